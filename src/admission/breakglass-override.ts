import type { PodFacts } from './admission.js';
import type { Evaluation } from './evaluation.js';
import type { Breakglass, Clock } from './ports.js';

/** Binary Authorization's breakglass pod label. */
export const BREAKGLASS_LABEL = 'image-policy.k8s.io/break-glass';

export interface BreakglassOptions {
  /** The breakglass file monitor; undefined when none is configured. */
  readonly breakglass?: Breakglass | undefined;
  /** Honour the pod label `image-policy.k8s.io/break-glass: "true"`. */
  readonly podBreakglassLabel?: boolean | undefined;
  readonly clock: Clock;
}

/**
 * A deny that a breakglass covers becomes an allow, audited with what it overrode. The grant is looked
 * up for this image (its name and digest) only; expiry is checked now, at this decision. Allows pass
 * unchanged.
 */
export function withBreakglass(
  options: BreakglassOptions,
  evaluation: Evaluation,
  pod: PodFacts,
  imageName: string | undefined,
  digest: string | undefined,
): Evaluation {
  if (evaluation.outcome.allowed) return evaluation;
  const namespace = pod.namespace || undefined;
  const fromFile = options.breakglass?.grantFor({ namespace, imageName, digest }, options.clock());
  const fromLabel =
    !fromFile && options.podBreakglassLabel && pod.labels[BREAKGLASS_LABEL] === 'true'
      ? {
          reason: `pod label ${BREAKGLASS_LABEL}`,
          ticket: undefined,
          createdBy: undefined,
          expiresAt: undefined,
          fileSha256: undefined,
          matched: [`label:${BREAKGLASS_LABEL}`],
        }
      : undefined;
  const grant = fromFile ?? fromLabel;
  if (!grant) return evaluation;
  return {
    ...evaluation,
    outcome: { allowed: true },
    reason: 'BREAKGLASS',
    breakglass: {
      ...grant,
      source: fromFile ? 'file' : 'pod-label',
      overridden: { reason: evaluation.reason, message: evaluation.outcome.reason },
    },
  };
}
