import type { AttestationRecord } from '../verify/attestation.js';
import { verifyAttestors } from '../verify/verify-attestations.js';
import type { AttestorOutcome } from '../verify/verify-attestations.js';
import type { VerificationSession } from '../verify/verification-session.js';
import type { ImageIdentity } from '../reference/image-reference.js';
import { PolicyEvaluationError } from './errors.js';
import { matchingImageRules } from './image-rules.js';
import type { CompiledPolicy, CompiledRule } from './types.js';
import type { TrustedAttestor } from '../verify/verify-attestations.js';
import type { MissingAttestor, SatisfiedAttestor, Verdict, VerdictReason } from './verdict.js';

/**
 * The cheap first step of a decision. `decided`: allowlisted, node-critical, ALWAYS_ALLOW or ALWAYS_DENY:
 * no attestation needs fetching. `needs-attestations`: fetch attestations for `rule.attestors`, then call
 * decideWithAttestations (or decideFromOutcomes when verification ran elsewhere).
 */
export type DecisionPlan =
  | { readonly kind: 'decided'; readonly verdict: Verdict }
  | { readonly kind: 'needs-attestations'; readonly rule: CompiledRule };

const NONE: readonly never[] = Object.freeze([]);
const SHA256 = /^sha256:[0-9a-f]{64}$/;

/**
 * The rule that applies to a namespace: `kubernetesNamespaceAdmissionRules[namespace]`, else the node's
 * cluster rule, else `defaultAdmissionRule` (most specific wins, never a merge). Pure and O(1).
 */
export function selectRule(policy: CompiledPolicy, namespace: string | undefined): CompiledRule {
  return (
    (namespace === undefined ? undefined : policy.namespaceRules.get(namespace)) ??
    policy.clusterRule ??
    policy.defaultRule
  );
}

/**
 * First step of a decision, before any attestation is fetched. In order: the system policy's sandbox
 * pins, the allowlist and node-critical pins, then the rule for `namespace` (with image rules), to
 * which the system policy's release signature is added as an alternative for the images it covers
 * (docs/adr/0017-system-policy.md). Everything here can only be overridden towards deny by a deny list
 * (quarantine), which admission checks outside the policy, before it trusts any verdict from here.
 * Throws PolicyEvaluationError (`CG_ERR_IMAGE_IDENTITY_INVALID`) when `image` is not a normalised name
 * with a sha256 digest: the caller treats that as undecided (deny).
 */
export function planDecision(
  policy: CompiledPolicy,
  image: ImageIdentity,
  namespace: string | undefined,
): DecisionPlan {
  if (image.name.length === 0 || !SHA256.test(image.digest)) {
    throw new PolicyEvaluationError('image identity needs a normalised name and a sha256 digest');
  }
  const sandbox = policy.system?.pinned(image.name, image.digest);
  if (sandbox !== undefined) {
    return Object.freeze({ kind: 'decided', verdict: systemVerdict(policy, 'sandbox-image', NONE) });
  }
  const listed = policy.allowlist.match(image.name, image.digest);
  if (listed !== undefined) {
    const verdict = freezeVerdict({
      decision: 'allow',
      wouldBe: 'allow',
      reason: listed.kind === 'node-critical' ? 'NODE_CRITICAL' : 'ALLOWLISTED',
      dryRun: false,
      enforcementMode: undefined,
      rule: Object.freeze({ kind: listed.kind, key: listed.pattern }),
      satisfied: NONE,
      missing: NONE,
      policyRevision: policy.revision,
    });
    return Object.freeze({ kind: 'decided', verdict });
  }
  const selected = selectRule(policy, namespace);
  const rule = withImageRules(selected, policy, image);
  const covered = rule.evaluationMode === 'ALWAYS_ALLOW' ? undefined : policy.system?.covers(image.name);
  if (covered !== undefined && policy.system !== undefined) {
    const attestor = policy.system.attestor;
    return Object.freeze({
      kind: 'needs-attestations',
      rule: Object.freeze({ ...rule, system: Object.freeze({ pattern: covered, attestor }) }),
    });
  }
  switch (rule.evaluationMode) {
    case 'ALWAYS_ALLOW':
      return Object.freeze({
        kind: 'decided',
        verdict: ruleVerdict(policy, rule, true, 'ALWAYS_ALLOW', NONE, NONE),
      });
    case 'ALWAYS_DENY':
      return Object.freeze({
        kind: 'decided',
        verdict: ruleVerdict(policy, rule, false, 'ALWAYS_DENY', NONE, NONE),
      });
    case 'REQUIRE_ATTESTATION':
      return Object.freeze({ kind: 'needs-attestations', rule });
  }
}

/**
 * Second step: verifies `records` against every attestor the rule requires and returns the verdict.
 * Every required attestor must be satisfied (`ATTESTATIONS_SATISFIED`), otherwise `ATTESTOR_MISSING`.
 * Signature checks run in node:crypto's threadpool, bounded by `session` (one per decision; pass the same
 * one when re-deciding with more records, so nothing is verified twice). Never rejects for malformed
 * records.
 */
export async function decideWithAttestations(
  policy: CompiledPolicy,
  rule: CompiledRule,
  image: ImageIdentity,
  records: readonly AttestationRecord[],
  session?: VerificationSession,
): Promise<Verdict> {
  const outcomes = await verifyAttestors(requiredAttestors(rule), image, records, {
    bindDockerReference: rule.bindDockerReference,
    session,
  });
  return decideFromOutcomes(policy, rule, outcomes);
}

/**
 * Builds the verdict of a REQUIRE_ATTESTATION rule from per-attestor outcomes (for callers that verified
 * or cached outcomes themselves). An attestor of the rule with no outcome counts as missing. Fail closed.
 */
export function decideFromOutcomes(
  policy: CompiledPolicy,
  rule: CompiledRule,
  outcomes: readonly AttestorOutcome[],
): Verdict {
  const system = rule.system;
  const released = system && outcomes.find((o) => o.attestor === system.attestor.name);
  if (system !== undefined && released?.satisfied === true) {
    const by = Object.freeze({ attestor: released.attestor, keyIds: released.keyIds });
    return systemVerdict(policy, system.pattern, Object.freeze([by]));
  }
  if (rule.evaluationMode === 'ALWAYS_DENY')
    return ruleVerdict(policy, rule, false, 'ALWAYS_DENY', NONE, NONE);
  const satisfied: SatisfiedAttestor[] = [];
  const missing: MissingAttestor[] = [];
  for (const attestor of rule.attestors) {
    const outcome = outcomes.find((o) => o.attestor === attestor.name);
    if (outcome?.satisfied === true)
      satisfied.push(Object.freeze({ attestor: attestor.name, keyIds: outcome.keyIds }));
    else {
      const reason =
        outcome === undefined || outcome.reason === 'VERIFIED' ? 'NO_ATTESTATION' : outcome.reason;
      missing.push(Object.freeze({ attestor: attestor.name, reason }));
    }
  }
  const ok = missing.length === 0 && rule.attestors.length > 0;
  return ruleVerdict(
    policy,
    rule,
    ok,
    ok ? 'ATTESTATIONS_SATISFIED' : 'ATTESTOR_MISSING',
    Object.freeze(satisfied),
    Object.freeze(missing),
  );
}

/**
 * Whole evaluation in one call: (policy, image identity, namespace, attestations) → Verdict.
 * Rejects only with PolicyEvaluationError for an invalid image identity (see planDecision).
 */
export async function evaluatePolicy(
  policy: CompiledPolicy,
  image: ImageIdentity,
  namespace: string | undefined,
  records: readonly AttestationRecord[],
): Promise<Verdict> {
  const plan = planDecision(policy, image, namespace);
  return plan.kind === 'decided' ? plan.verdict : decideWithAttestations(policy, plan.rule, image, records);
}

/**
 * The selected rule plus every `criguard.imageRules` entry matching the image: their attestors are added
 * (all must be satisfied), an ALWAYS_ALLOW rule then requires them, an ALWAYS_DENY rule stays a deny. The
 * selected rule's enforcement mode, onUndecided and binding apply. The rule itself when none matches.
 */
function withImageRules(rule: CompiledRule, policy: CompiledPolicy, image: ImageIdentity): CompiledRule {
  if (rule.evaluationMode === 'ALWAYS_DENY' || (policy.imageRules?.length ?? 0) === 0) return rule;
  const matching = matchingImageRules(policy.imageRules ?? [], image.name, image.digest);
  if (matching.length === 0) return rule;
  const attestors = new Map<string, TrustedAttestor>();
  if (rule.evaluationMode === 'REQUIRE_ATTESTATION') for (const a of rule.attestors) attestors.set(a.name, a);
  for (const r of matching) for (const a of r.attestors) attestors.set(a.name, a);
  return Object.freeze({
    ...rule,
    evaluationMode: 'REQUIRE_ATTESTATION' as const,
    attestors: Object.freeze([...attestors.values()]),
    imageRules: Object.freeze(matching.map((r) => r.pattern)),
  });
}

/**
 * Every attestor whose evidence a needs-attestations plan must verify: the rule's, and the system
 * policy's release attestor when the image is one it covers. What the evidence loop fetches and verifies.
 */
export function requiredAttestors(rule: CompiledRule): readonly TrustedAttestor[] {
  return rule.system === undefined ? rule.attestors : [...rule.attestors, rule.system.attestor];
}

/** An image the system policy admits: not dry run, no rule's enforcement mode (ADR 0017). */
function systemVerdict(
  policy: CompiledPolicy,
  key: string,
  satisfied: readonly SatisfiedAttestor[],
): Verdict {
  return freezeVerdict({
    decision: 'allow',
    wouldBe: 'allow',
    reason: 'SYSTEM_POLICY',
    dryRun: false,
    enforcementMode: undefined,
    rule: Object.freeze({ kind: 'system', key }),
    satisfied,
    missing: NONE,
    policyRevision: policy.revision,
  });
}

function ruleVerdict(
  policy: CompiledPolicy,
  rule: CompiledRule,
  wouldAllow: boolean,
  reason: VerdictReason,
  satisfied: readonly SatisfiedAttestor[],
  missing: readonly MissingAttestor[],
): Verdict {
  const dryRun = rule.enforcementMode === 'DRYRUN_AUDIT_LOG_ONLY';
  return freezeVerdict({
    decision: wouldAllow || dryRun ? 'allow' : 'deny',
    wouldBe: wouldAllow ? 'allow' : 'deny',
    reason,
    dryRun,
    enforcementMode: rule.enforcementMode,
    rule: Object.freeze(
      rule.imageRules === undefined
        ? { kind: rule.kind, key: rule.key }
        : { kind: rule.kind, key: rule.key, imageRules: rule.imageRules },
    ),
    satisfied,
    missing,
    policyRevision: policy.revision,
  });
}

function freezeVerdict(v: Verdict): Verdict {
  return Object.freeze(v);
}
