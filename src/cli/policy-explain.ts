import { planDecision } from '../policy/evaluate.js';
import type { CompiledPolicy } from '../policy/types.js';
import type { ImageIdentity } from '../reference/image-reference.js';

/** Which rule (and image rules) an image would meet, before any signature is looked at. */
export interface ImageExplanation {
  readonly image: string;
  readonly namespace: string;
  /** `decided`: allow/deny without signatures (allowlist, node-critical, ALWAYS_*); else what is required. */
  readonly outcome: 'allow' | 'deny' | 'requires-attestations';
  readonly reason: string | undefined;
  readonly rule: { readonly kind: string; readonly key: string | undefined };
  readonly imageRules: readonly string[];
  readonly attestors: readonly {
    readonly name: string;
    readonly kind: 'keys' | 'keyless';
    readonly threshold: number;
  }[];
  readonly enforcementMode: string | undefined;
  /** The system policy pattern that admits the image on its own when its release signature verifies. */
  readonly systemImage?: { readonly pattern: string; readonly attestor: string } | undefined;
}

/** Explains the first step of a decision for `image` in `namespace` with the daemon's own planDecision. */
export function explainImage(
  policy: CompiledPolicy,
  image: ImageIdentity,
  namespace: string,
): ImageExplanation {
  const plan = planDecision(policy, image, namespace);
  const base = { image: `${image.name}@${image.digest}`, namespace };
  if (plan.kind === 'decided') {
    const v = plan.verdict;
    return {
      ...base,
      outcome: v.decision,
      reason: v.reason,
      rule: { kind: v.rule.kind, key: v.rule.key },
      imageRules: v.rule.imageRules ?? [],
      attestors: [],
      enforcementMode: v.enforcementMode,
    };
  }
  const rule = plan.rule;
  return {
    ...base,
    outcome: 'requires-attestations',
    reason: undefined,
    rule: { kind: rule.kind, key: rule.key },
    imageRules: rule.imageRules ?? [],
    attestors: rule.attestors.map((a) => ({
      name: a.name,
      kind: a.keyless === undefined ? ('keys' as const) : ('keyless' as const),
      threshold: a.threshold,
    })),
    enforcementMode: rule.enforcementMode,
    ...(rule.system === undefined
      ? {}
      : { systemImage: { pattern: rule.system.pattern, attestor: rule.system.attestor.name } }),
  };
}

/** Text form, one line per fact. */
export function formatExplanation(e: ImageExplanation): string {
  const rule = `${e.rule.kind}${e.rule.key === undefined ? '' : ` ${e.rule.key}`}`;
  const lines = [
    `image:      ${e.image} (namespace ${e.namespace})`,
    `rule:       ${rule}${e.enforcementMode === undefined ? '' : ` (${e.enforcementMode})`}`,
    ...(e.imageRules.length === 0 ? [] : [`imageRules: ${e.imageRules.join(', ')}`]),
    ...(e.systemImage === undefined
      ? []
      : [`system:     ${e.systemImage.pattern}: admitted if signed by ${e.systemImage.attestor}, else:`]),
    e.outcome === 'requires-attestations' && e.attestors.length === 0
      ? 'decided:    DENY ALWAYS_DENY'
      : e.outcome === 'requires-attestations'
        ? `requires:   ${e.attestors.map((a) => `${a.name} (${a.kind}${a.threshold > 1 ? `, ${a.threshold} of them` : ''})`).join(', ')}`
        : `decided:    ${e.outcome.toUpperCase()} ${e.reason ?? ''}`,
  ];
  return `${lines.join('\n')}\n`;
}
