export { loadPolicy } from './load-policy.js';
export type { LoadPolicyInput, LoadPolicyOptions } from './load-policy.js';
export type { SourceText } from './parse-text.js';
export { MAX_POLICY_TEXT_BYTES } from './parse-text.js';
export { PolicyLoadError, PolicyEvaluationError } from './errors.js';
export type { PolicyIssue, PolicyIssueCode } from './errors.js';
export {
  selectRule,
  planDecision,
  decideWithAttestations,
  decideFromOutcomes,
  evaluatePolicy,
} from './evaluate.js';
export type { DecisionPlan } from './evaluate.js';
export type { Verdict, VerdictReason, MatchedRule, SatisfiedAttestor, MissingAttestor } from './verdict.js';
export type {
  CompiledPolicy,
  CompiledRule,
  EnforcementMode,
  EvaluationMode,
  OnUndecided,
  RuleKind,
} from './types.js';
export type { AllowlistMatch, AllowlistIndex } from './allowlist.js';
export { compileNamePattern, NamePatternError } from './name-pattern.js';
export type { CompiledNamePattern } from './name-pattern.js';
export { resolveAttestorName } from './attestor-names.js';
