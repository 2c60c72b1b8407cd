import type { TrustedAttestor } from '../verify/verify-attestations.js';
import type { AllowlistIndex } from './allowlist.js';
import type { CompiledImageRule } from './image-rules.js';
import type { ENFORCEMENT_MODES, EVALUATION_MODES, ON_UNDECIDED } from './schema.js';

export type EvaluationMode = (typeof EVALUATION_MODES)[number];
export type EnforcementMode = (typeof ENFORCEMENT_MODES)[number];
/** What admission does when it cannot decide (fetch failed, timeout): DENY by default; ALLOW is audited. */
export type OnUndecided = (typeof ON_UNDECIDED)[number];

/** Which kind of rule applies; the order of precedence is namespace, cluster, default. */
export type RuleKind = 'namespace' | 'cluster' | 'default';

/** A rule after compilation: attestor names resolved to trusted attestors. Frozen. */
export interface CompiledRule {
  readonly kind: RuleKind;
  /** Namespace name or `location.clusterId`; undefined for the default rule. */
  readonly key: string | undefined;
  readonly evaluationMode: EvaluationMode;
  readonly enforcementMode: EnforcementMode;
  /** Required attestors (every one must be satisfied), resolved; empty unless REQUIRE_ATTESTATION. */
  readonly attestors: readonly TrustedAttestor[];
  readonly onUndecided: OnUndecided;
  /**
   * The registries (`host[:port]` of the normalised image name) for which `onUndecided: ALLOW` applies;
   * empty for DENY. Never the pod author's choice: an image elsewhere is denied when undecided.
   */
  readonly onUndecidedRegistries: readonly string[];
  readonly bindDockerReference: boolean;
  /** Patterns of the `criguard.imageRules` whose attestors were added to this rule for one image. */
  readonly imageRules?: readonly string[] | undefined;
}

/** A loaded, validated, frozen policy. Build with loadPolicy; evaluate with planDecision / evaluatePolicy. */
export interface CompiledPolicy {
  /** `sha256:<hex>` of the canonical form of the policy and every attestor (keys included). */
  readonly revision: string;
  readonly name: string | undefined;
  /** The node's cluster key (`location.clusterId`) given at load, if any. */
  readonly cluster: string | undefined;
  readonly globalPolicyEvaluationMode: 'ENABLE' | 'DISABLE' | undefined;
  readonly defaultRule: CompiledRule;
  /** The rule of `clusterAdmissionRules[cluster]`, when the node's cluster has one. */
  readonly clusterRule: CompiledRule | undefined;
  readonly namespaceRules: ReadonlyMap<string, CompiledRule>;
  readonly clusterRules: ReadonlyMap<string, CompiledRule>;
  readonly attestors: ReadonlyMap<string, TrustedAttestor>;
  readonly allowlist: AllowlistIndex;
  /** `criguard.imageRules`: requirements added for the images they match (none when absent). */
  readonly imageRules?: readonly CompiledImageRule[] | undefined;
}
