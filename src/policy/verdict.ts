import type { EvidenceRejection } from '../verify/verify-attestations.js';
import type { EnforcementMode, RuleKind } from './types.js';

/** Stable reason codes of a verdict (the judgement before dry run is applied). */
export type VerdictReason =
  | 'SYSTEM_POLICY'
  | 'NODE_CRITICAL'
  | 'ALLOWLISTED'
  | 'ALWAYS_ALLOW'
  | 'ALWAYS_DENY'
  | 'ATTESTATIONS_SATISFIED'
  | 'ATTESTOR_MISSING';

/**
 * What decided: the system policy (key = the system image pattern, or `sandbox-image`), an allowlist
 * entry (key = the pattern) or a rule (key = namespace / cluster key).
 */
export interface MatchedRule {
  readonly kind: 'system' | 'node-critical' | 'allowlist' | RuleKind;
  readonly key: string | undefined;
  /** `criguard.imageRules` patterns whose requirements were added (absent when none matched). */
  readonly imageRules?: readonly string[];
}

/** An attestor that was satisfied, with the distinct key ids that verified. */
export interface SatisfiedAttestor {
  readonly attestor: string;
  readonly keyIds: readonly string[];
}

/** A required attestor without valid evidence, and the most specific reason seen. */
export interface MissingAttestor {
  readonly attestor: string;
  readonly reason: EvidenceRejection;
}

/**
 * The outcome of a policy evaluation. A deny is a normal value, never an exception.
 * `decision` is what to do; `wouldBe` what the rule judged (they differ only in dry run, where a would-be
 * deny is admitted and must be audited).
 */
export interface Verdict {
  readonly decision: 'allow' | 'deny';
  readonly wouldBe: 'allow' | 'deny';
  readonly reason: VerdictReason;
  /** True when the rule is DRYRUN_AUDIT_LOG_ONLY. */
  readonly dryRun: boolean;
  /** The rule's enforcement mode; undefined for allowlist and node-critical matches. */
  readonly enforcementMode: EnforcementMode | undefined;
  readonly rule: MatchedRule;
  readonly satisfied: readonly SatisfiedAttestor[];
  readonly missing: readonly MissingAttestor[];
  /** Revision of the policy that gave this verdict (cache keys must include it). */
  readonly policyRevision: string;
}
