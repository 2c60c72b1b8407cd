import { planDecision, selectRule } from '../policy/evaluate.js';
import type { Verdict } from '../policy/verdict.js';
import {
  parseImageReference,
  type ImageIdentity,
  type ImageReference,
} from '../reference/image-reference.js';
import type { AdmissionOutcome, PullAdmission, PullFacts } from './admission.js';
import { withBreakglass } from './breakglass-override.js';
import { budgeted } from './deadline.js';
import { namespaceOf, type DecisionContext } from './dependencies.js';
import { badReference, settle, type Evaluation } from './evaluation.js';
import type { ImageVerdict } from './image-verdict.js';
import { decideUndecided, errorCode } from './undecided.js';

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
 * PullImage, before containerd pulls: parse the reference, judge it (by name alone when the policy
 * needs no digest, else resolve the tag and judge the digest), apply a breakglass, audit. An allow
 * carries the confirm step that checks containerd's answer against what was judged.
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
  const judged = await judgeReference(ctx, facts, reference, signal);
  const final = withBreakglass(
    ctx.deps,
    judged.evaluation,
    facts.pod,
    reference.name,
    judged.identity?.digest,
  );
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
      identity === undefined && unverified !== undefined
        ? confirmUnverified(ctx, facts, unverified, imageRef, confirmSignal)
        : confirmPull(ctx, facts, { identity, platform, verdict }, imageRef, confirmSignal),
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
    const result = await ctx.judge.judge(
      { policy, identity, namespace, credentials: facts.credentials },
      signal,
    );
    platform = result.platform;
    return { ...result, identity };
  });
  return { evaluation, identity, platform };
}

/** What the pull admitted, for its confirm step. */
interface Admitted {
  readonly identity: ImageIdentity | undefined;
  /** Set when the verdict was the platform manifest's: containerd must have picked that one. */
  readonly platform: ImageVerdict['platform'];
  readonly verdict: Verdict | undefined;
}

const MISMATCH_REASONS: Readonly<Record<string, string>> = {
  CG_ERR_PULLED_DIGEST_MISMATCH: 'PULL_DIGEST_MISMATCH',
  CG_ERR_PULLED_PLATFORM_MISMATCH: 'PULL_PLATFORM_MISMATCH',
};

/**
 * PullImage, after containerd answered: containerd must hold the judged digest under the judged name
 * (a registry that served other content to containerd is caught here), and when a platform manifest of
 * an index was judged, the image containerd reports must be that manifest's (its config digest). A
 * match confirms the decision already recorded; anything else gets its own record.
 */
async function confirmPull(
  ctx: DecisionContext,
  facts: PullFacts,
  admitted: Admitted,
  imageRef: string,
  signal: AbortSignal,
): Promise<AdmissionOutcome> {
  const { identity, platform, verdict } = admitted;
  if (!identity) return { allowed: true }; // decided without a digest: nothing to compare
  const { deps } = ctx;
  const started = deps.clock();
  const policy = deps.policy();
  const rule = selectRule(policy, namespaceOf(facts.pod));
  const expected = `${identity.name}@${identity.digest}`;
  let problem: unknown;
  try {
    const image = await budgeted(deps.budgetMs, signal, (budget) => deps.images.lookup(imageRef, budget));
    if (!image?.repoDigests.includes(expected)) {
      problem = Object.assign(
        new Error(`containerd pulled ${image?.repoDigests.join(', ') || imageRef}, not ${expected}`),
        { code: 'CG_ERR_PULLED_DIGEST_MISMATCH' },
      );
    } else if (platform !== undefined && image.id !== platform.configDigest) {
      problem = Object.assign(
        new Error(
          `containerd took image ${image.id} from ${expected}, not the judged platform manifest ${platform.digest} (image ${platform.configDigest})`,
        ),
        { code: 'CG_ERR_PULLED_PLATFORM_MISMATCH' },
      );
    } else {
      return { allowed: true };
    }
  } catch (err) {
    problem = err;
  }
  const settled = decideUndecided(rule, problem, expected);
  const mismatch = MISMATCH_REASONS[errorCode(problem)];
  const outcome: AdmissionOutcome =
    mismatch !== undefined && !settled.dryRun
      ? {
          allowed: false,
          kind: 'denied',
          reason: `${(problem as Error).message}: ${mismatch === 'PULL_DIGEST_MISMATCH' ? 'the registry changed the image' : 'containerd took another platform'}`,
        }
      : settled.outcome;
  const evaluation: Evaluation = {
    outcome,
    reason: mismatch ?? settled.reason,
    verdict,
    identity,
    cacheHit: false,
    errorCode: errorCode(problem),
    wouldBe: settled.dryRun ? 'deny' : undefined,
    policyRevision: policy.revision,
  };
  ctx.audit(
    {
      method: 'PullImage',
      image: facts.image,
      pod: facts.pod,
      container: undefined,
      digests: [identity.digest, ...(platform ? [platform.digest] : [])],
    },
    evaluation,
    started,
  );
  return outcome;
}

/**
 * PullImage admitted by `onUndecided: ALLOW` before its tag could even be resolved: there is no judged
 * digest to compare, but containerd must hold the image under the name that was admitted, and a record
 * names the digest(s) that came in unverified (CreateContainer judges them again).
 */
async function confirmUnverified(
  ctx: DecisionContext,
  facts: PullFacts,
  name: string,
  imageRef: string,
  signal: AbortSignal,
): Promise<AdmissionOutcome> {
  const { deps } = ctx;
  const started = deps.clock();
  const policy = deps.policy();
  let digests: string[] = [];
  let problem: unknown;
  try {
    const image = await budgeted(deps.budgetMs, signal, (budget) => deps.images.lookup(imageRef, budget));
    digests = (image?.repoDigests ?? []).flatMap((rd) => {
      const at = rd.lastIndexOf('@');
      return at > 0 && rd.slice(0, at) === name ? [rd.slice(at + 1)] : [];
    });
    if (digests.length === 0) {
      problem = Object.assign(new Error(`containerd holds no image ${name} for ${imageRef}`), {
        code: 'CG_ERR_PULLED_DIGEST_MISMATCH',
      });
    }
  } catch (err) {
    problem = err;
  }
  const outcome: AdmissionOutcome =
    problem === undefined
      ? { allowed: true }
      : { allowed: false, kind: 'denied', reason: `cannot confirm ${name}: ${(problem as Error).message}` };
  const evaluation: Evaluation = {
    outcome,
    reason: problem === undefined ? 'UNDECIDED_ALLOWED_BY_RULE' : 'PULL_DIGEST_MISMATCH',
    verdict: undefined,
    identity: { name, digest: digests[0] ?? '' },
    cacheHit: false,
    errorCode: problem === undefined ? undefined : errorCode(problem),
    wouldBe: undefined,
    policyRevision: policy.revision,
  };
  ctx.audit(
    { method: 'PullImage', image: facts.image, pod: facts.pod, container: undefined, digests },
    evaluation,
    started,
  );
  return outcome;
}
