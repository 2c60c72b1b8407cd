import type { TrustedAttestor } from '../verify/verify-attestations.js';
import type { AllowlistIndex } from './allowlist.js';
import type { CompiledImageRule } from './image-rules.js';
import type { PolicyWarning } from './warnings.js';
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
  /**
   * Set for an image the system policy covers: satisfying `attestor` admits it (`SYSTEM_POLICY`)
   * whatever the rest of the rule says; otherwise the rule decides as without it.
   */
  readonly system?: { readonly pattern: string; readonly attestor: TrustedAttestor } | undefined;
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
  /** The built-in system policy, when `globalPolicyEvaluationMode: ENABLE` (docs/adr/0017-system-policy.md). */
  readonly system?: CompiledSystemPolicy | undefined;
  /** The revision of the files alone, when `revision` also covers node facts (the sandbox image). */
  readonly baseRevision?: string | undefined;
  /** Fields accepted but without effect on this node (`policyWarnings`), reported by `policy check` and `serve`. */
  readonly warnings: readonly PolicyWarning[];
}

/** One image family the system policy covers, and why a node needs it. */
export interface SystemImage {
  readonly namePattern: string;
  readonly role: string;
}

/** The sandbox image as containerd is configured with it, and the digests containerd holds for it. */
export interface SandboxImageFacts {
  /** The reference in containerd's CRI configuration (`sandbox_image`), as written there. */
  readonly reference: string;
  /** Repository digests containerd records for it: `<normalised name>@sha256:<hex>`. */
  readonly repoDigests: readonly string[];
}

/** The compiled system policy (frozen). */
export interface CompiledSystemPolicy {
  /** The version of the built-in data (`system-policy.json`), part of the policy revision. */
  readonly version: string;
  /** The Kubernetes release keyless attestor (a name no policy attestor can take: it has a colon). */
  readonly attestor: TrustedAttestor;
  readonly images: readonly SystemImage[];
  /** The sandbox image facts in use, if any were found on the node. */
  readonly sandbox: SandboxImageFacts | undefined;
  /** The sandbox pin that admits `name@digest`, as `name@digest`; undefined if none. */
  pinned(name: string, digest: string): string | undefined;
  /** The system image pattern covering `name` (it must carry the release signature), if any. */
  covers(name: string): string | undefined;
}
