import type { CompiledPolicy } from '../policy/types.js';
import type { VerdictCache } from '../cache/verdict-cache.js';
import type { PodFacts } from './admission.js';
import { decisionRecord, type DecisionSubject } from './audit-record.js';
import type { Evaluation } from './evaluation.js';
import type { ImageJudge } from './image-verdict.js';
import { JudgedImages } from './judged-images.js';
import type { VerificationSlots } from './verification-slots.js';
import { createRegistryHealth, type RegistryHealth } from './registry-health.js';
import type {
  Breakglass,
  Clock,
  Quarantine,
  DecisionSink,
  DigestResolver,
  EvidenceSource,
  ImageLookup,
  PlatformResolver,
} from './ports.js';

export interface AdmissionDependencies {
  /** The policy in force (swapped atomically on reload). */
  readonly policy: () => CompiledPolicy;
  readonly resolver: DigestResolver;
  /**
   * Attestation sources in order (cheapest first, e.g. the local directory, then the registry). Each is
   * asked only while the records gathered so far do not satisfy the rule.
   */
  readonly evidence: readonly EvidenceSource[];
  /**
   * Multi-arch: when an index digest lacks attestations, the manifest it holds for this node's platform
   * may carry them (signed per platform). Undefined: only the digest itself counts.
   */
  readonly platforms?: PlatformResolver | undefined;
  readonly images: ImageLookup;
  readonly cache: VerdictCache;
  readonly sink: DecisionSink;
  readonly clock: Clock;
  /** Time budget of one decision's registry and verification work (a wait for a verification slot counts). */
  readonly budgetMs: number;
  /** At most this many image verifications at once, the rest wait in order (verification-slots.ts). */
  readonly verificationSlots?: VerificationSlots | undefined;
  /** The breakglass file monitor; undefined when none is configured. */
  readonly breakglass?: Breakglass | undefined;
  /** The node's quarantine list, consulted first at every decision; undefined when none is configured. */
  readonly quarantine?: Quarantine | undefined;
  /** Honour the Binary Authorization pod label `image-policy.k8s.io/break-glass: "true"` (off by default). */
  readonly podBreakglassLabel?: boolean;
}

/** What every phase of a decision shares: the dependencies, the image judge, and the audit step. */
export interface DecisionContext {
  readonly deps: AdmissionDependencies;
  readonly judge: ImageJudge;
  /** Registries that failed lately: tried last when an image has several names. */
  readonly health: RegistryHealth;
  /** Which judged manifests have which image id, as containerd confirmed them (the fast paths). */
  readonly judged: JudgedImages;
  /** Writes the one audit record of a decision that began at `started`. */
  audit(subject: DecisionSubject, evaluation: Evaluation, started: number): void;
}

export function decisionContext(deps: AdmissionDependencies, judge: ImageJudge): DecisionContext {
  return {
    deps,
    judge,
    health: createRegistryHealth(deps.clock),
    judged: new JudgedImages(),
    audit(subject, evaluation, started) {
      const now = deps.clock();
      deps.sink.record(decisionRecord(subject, evaluation, now, now - started));
    },
  };
}

/** The pod's namespace, or undefined when the client sent none. */
export function namespaceOf(pod: PodFacts): string | undefined {
  return pod.namespace || undefined;
}
