import type { ErrorCode } from '../errors/catalog.js';
import { selectRule } from '../policy/evaluate.js';
import type { Verdict } from '../policy/verdict.js';
import type { ImageIdentity } from '../reference/image-reference.js';
import type { AdmissionOutcome, PullFacts } from './admission.js';
import { budgeted } from './deadline.js';
import { namespaceOf, type DecisionContext } from './dependencies.js';
import { AdmissionError } from './errors.js';
import type { Evaluation } from './evaluation.js';
import type { ImageVerdict } from './image-verdict.js';
import { decideUndecided, errorCode } from './undecided.js';

/** What the pull admitted, for its confirm step. */
export interface Admitted {
  readonly identity: ImageIdentity | undefined;
  /** Set when the verdict was the platform manifest's: containerd must have picked that one. */
  readonly platform: ImageVerdict['platform'];
  readonly verdict: Verdict | undefined;
}

const MISMATCH_REASONS: Readonly<Partial<Record<ErrorCode, string>>> = {
  CG_ERR_PULLED_DIGEST_MISMATCH: 'PULL_DIGEST_MISMATCH',
  CG_ERR_PULLED_PLATFORM_MISMATCH: 'PULL_PLATFORM_MISMATCH',
};

/**
 * PullImage, after containerd answered: containerd must hold the judged digest under the judged name
 * (a registry that served other content to containerd is caught here), and when a platform manifest of
 * an index was judged, the image containerd reports must be that manifest's (its config digest). A
 * match confirms the decision already recorded; anything else gets its own record.
 */
export async function confirmPull(
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
      problem = new AdmissionError(
        'CG_ERR_PULLED_DIGEST_MISMATCH',
        `containerd pulled ${image?.repoDigests.join(', ') || imageRef}, not ${expected}`,
      );
    } else if (platform !== undefined && image.id !== platform.configDigest) {
      problem = new AdmissionError(
        'CG_ERR_PULLED_PLATFORM_MISMATCH',
        `containerd took image ${image.id} from ${expected}, not the judged platform manifest ${platform.digest} (image ${platform.configDigest})`,
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
export async function confirmUnverified(
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
      problem = new AdmissionError(
        'CG_ERR_PULLED_DIGEST_MISMATCH',
        `containerd holds no image ${name} for ${imageRef}`,
      );
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
