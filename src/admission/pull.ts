import { AdmissionError } from './errors.js';
import { planDecision, selectRule } from '../policy/evaluate.js';
import {
  parseImageReference,
  type ImageIdentity,
  type ImageReference,
} from '../reference/image-reference.js';
import type { PullAdmission, PullFacts } from './admission.js';
import { withBreakglass } from './breakglass-override.js';
import { budgeted } from './deadline.js';
import { namespaceOf, type DecisionContext } from './dependencies.js';
import { badReference, settle, type Evaluation } from './evaluation.js';
import { confirmPull, confirmUnverified } from './pull-confirm.js';
import { confirmNotQuarantined, pullSubject, quarantined } from './quarantine-check.js';
import type { ImageVerdict } from './image-verdict.js';

// A digest that names no image, used only to ask the policy whether a decision needs the real digest.
const NO_DIGEST = `sha256:${'0'.repeat(64)}`;

/** What the pull decision found, for its audit record and its confirm step. */
interface PullJudgement {
  readonly evaluation: Evaluation;
  /** The digest judged (resolved from a tag, or given); undefined when decided without one. */
  readonly identity: ImageIdentity | undefined;
  readonly platform: ImageVerdict['platform'];
}

/**
 * PullImage, before containerd pulls: parse the reference, check the quarantine (name and given
 * digest), judge it (by name alone when the policy needs no digest, else resolve the tag and judge the
 * digest), check the quarantine again with the digests now known (its refusal is final), apply a
 * breakglass, audit. An allow carries the confirm step that checks containerd's answer against the
 * quarantine and against what was judged.
 */
export async function admitPull(
  ctx: DecisionContext,
  facts: PullFacts,
  signal: AbortSignal,
): Promise<PullAdmission> {
  const started = ctx.deps.clock();
  const policy = ctx.deps.policy();
  const subject = { method: 'PullImage' as const, image: facts.image, pod: facts.pod, container: undefined };
  let reference: ImageReference;
  try {
    reference = parseImageReference(facts.image);
  } catch (err) {
    const refused = badReference(policy, err);
    ctx.audit({ ...subject, digests: [] }, refused, started);
    return refused.outcome as PullAdmission;
  }
  const named = { name: reference.name, digest: reference.digest ?? '' };
  const early = quarantined(ctx, policy, pullSubject(reference.name, [reference.digest]), named);
  if (early) {
    ctx.audit({ ...subject, digests: reference.digest ? [reference.digest] : [] }, early, started);
    return early.outcome as PullAdmission;
  }
  const judged = await judgeReference(ctx, facts, reference, signal);
  const final =
    quarantined(
      ctx,
      policy,
      pullSubject(reference.name, [reference.digest, judged.identity?.digest, judged.platform?.digest]),
      judged.identity ?? named,
    ) ?? withBreakglass(ctx.deps, judged.evaluation, facts.pod, reference.name, judged.identity?.digest);
  const digests = [judged.identity?.digest, judged.platform?.digest].filter(
    (d): d is string => d !== undefined,
  );
  ctx.audit(
    { ...subject, digests },
    { ...final, identity: judged.identity ?? { name: reference.name, digest: '' } },
    started,
  );
  if (!final.outcome.allowed) return final.outcome;
  const { identity, platform } = judged;
  const verdict = judged.evaluation.verdict;
  // Admitted without a verdict because the (operator-named) registry did not answer: the pull is still
  // bound to what containerd fetches, and the record says which digest came in unverified.
  const unverified = final.reason === 'UNDECIDED_ALLOWED_BY_RULE' ? reference.name : undefined;
  return {
    allowed: true,
    confirm: (imageRef, confirmSignal) =>
      confirmNotQuarantined(ctx, facts, reference.name, imageRef, confirmSignal, (ref, s) =>
        identity === undefined && unverified !== undefined
          ? confirmUnverified(ctx, facts, unverified, ref, s)
          : confirmPull(ctx, facts, { identity, platform, verdict }, ref, s),
      ),
  };
}

/** The policy's judgement of a pull reference; "could not decide" is settled here (`settle`). */
async function judgeReference(
  ctx: DecisionContext,
  facts: PullFacts,
  reference: ImageReference,
  signal: AbortSignal,
): Promise<PullJudgement> {
  const { deps } = ctx;
  const policy = deps.policy();
  const namespace = namespaceOf(facts.pod);
  const rule = selectRule(policy, namespace);
  let identity: ImageIdentity | undefined;
  let platform: ImageVerdict['platform'];
  const named = { name: reference.name, digest: reference.digest ?? '' };
  const evaluation = await settle(policy, rule, named, async () => {
    // Decisions that need no digest (allowlisted by name, ALWAYS_ALLOW) are made without the registry.
    if (reference.digest === undefined) {
      const early = planDecision(policy, { name: reference.name, digest: NO_DIGEST }, namespace);
      if (
        early.kind === 'decided' &&
        early.verdict.decision === 'allow' &&
        early.verdict.wouldBe === 'allow'
      ) {
        return { verdict: early.verdict, cacheHit: false };
      }
    }
    const digest =
      reference.digest ??
      (await budgeted(deps.budgetMs, signal, (budget) =>
        deps.resolver.resolve(reference, facts.credentials, budget),
      ));
    identity = { name: reference.name, digest };
    // A quarantined digest is not worth verifying: admitPull refuses it once this settles.
    if (quarantined(ctx, policy, pullSubject(reference.name, [digest]), identity))
      throw new AdmissionError('CG_ERR_QUARANTINED', `${reference.name}@${digest} is quarantined`);
    const result = await ctx.judge.judge(
      { policy, identity, namespace, credentials: facts.credentials },
      signal,
    );
    platform = result.platform;
    return { ...result, identity };
  });
  return { evaluation, identity, platform };
}
