import { planDecision } from '../policy/evaluate.js';
import type { CompiledPolicy } from '../policy/types.js';
import type { Verdict } from '../policy/verdict.js';
import { parseImageReference, type ImageIdentity } from '../reference/image-reference.js';
import { budgeted } from './deadline.js';
import type { DecisionContext } from './dependencies.js';
import { AdmissionError } from './errors.js';
import type { ImageFacts } from './ports.js';
import { UndecidedImage } from './evaluation.js';

/** A content-addressed image id: what containerd looks up by id, never through a (mutable) tag. */
export const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;

/** At most this many registry names of one image id are judged (cached and healthy first). */
export const MAX_NAMES_JUDGED = 16;

/**
 * What containerd holds for one image of a container (by image id, or by name where a rule allows it).
 * Rejects with `CG_ERR_IMAGE_NOT_PRESENT`, `CG_ERR_IMAGE_ID_MISMATCH` or the look-up's error.
 */
export async function lookupContainerImage(
  ctx: DecisionContext,
  image: string,
  signal: AbortSignal,
): Promise<ImageFacts> {
  const { deps } = ctx;
  const facts = await budgeted(deps.budgetMs, signal, (budget) => deps.images.lookup(image, budget));
  if (!facts) throw new AdmissionError('CG_ERR_IMAGE_NOT_PRESENT', `image ${image} is not present`);
  if (IMAGE_ID.test(image) && facts.id !== image)
    throw new AdmissionError(
      'CG_ERR_IMAGE_ID_MISMATCH',
      `containerd answered image ${facts.id} for ${image}`,
    );
  return facts;
}

/**
 * One image of a container, as containerd holds it (lookupContainerImage): its repo digests, each
 * evaluated; the first allow wins. An image with no registry digest is judged under its image id (only a
 * digest pin or a rule that needs no attestation can admit it).
 */
export async function containerImageVerdict(
  ctx: DecisionContext,
  policy: CompiledPolicy,
  facts: ImageFacts,
  userSpecified: string,
  namespace: string | undefined,
  signal: AbortSignal,
  digests: string[],
): Promise<{ verdict: Verdict; cacheHit: boolean; identity?: ImageIdentity }> {
  const identities = facts.repoDigests.flatMap((rd) => toIdentity(rd));
  if (identities.length === 0) {
    const name = safeName(userSpecified) ?? safeName(facts.repoTags[0] ?? '') ?? 'unknown';
    digests.push(facts.id);
    const plan = planDecision(policy, { name, digest: facts.id }, namespace);
    // Without a registry digest the name is only what the pod spec or a local tag says: a name pattern
    // must not admit it. Digest pins, node-critical pins and rules that need no attestation may.
    const byNameOnly =
      plan.kind === 'decided' &&
      plan.verdict.reason === 'ALLOWLISTED' &&
      !plan.verdict.rule.key?.includes('@');
    if (plan.kind === 'decided' && !byNameOnly)
      return { verdict: plan.verdict, cacheHit: false, identity: { name, digest: facts.id } };
    throw new AdmissionError('CG_ERR_NO_REGISTRY_DIGEST', `image ${facts.id} has no registry digest`);
  }
  return judgeNames(ctx, policy, namespace, facts.id, identities, safeName(userSpecified), signal, digests);
}

/**
 * One image id, several registry names (each tenant that pulled it by its own name adds one): each name
 * is judged on its own, the cached allows first, then the pod's own name, then names on registries
 * that answered lately; the first allow admits. A name whose registry fails or denies never spoils
 * another: the image is refused only when no name admits it (with a deny verdict if one was reached,
 * else with the first failure, settled by undecided.ts).
 */
async function judgeNames(
  ctx: DecisionContext,
  policy: CompiledPolicy,
  namespace: string | undefined,
  imageId: string,
  identities: readonly ImageIdentity[],
  podName: string | undefined,
  signal: AbortSignal,
  digests: string[],
): Promise<{ verdict: Verdict; cacheHit: boolean; identity?: ImageIdentity }> {
  const question = (identity: ImageIdentity) => ({
    policy,
    identity,
    namespace,
    credentials: undefined,
    imageId,
  });
  const rank = (identity: ImageIdentity): number => {
    const cached = ctx.judge.cached(question(identity));
    if (cached?.decision === 'allow' && cached.wouldBe === 'allow') return 0;
    if (identity.name === podName) return 1;
    return ctx.health.healthy(identity.name) ? 2 : 3;
  };
  const ordered = identities
    .map((identity, i) => ({ identity, rank: rank(identity), i }))
    .sort((a, b) => a.rank - b.rank || a.i - b.i)
    .slice(0, MAX_NAMES_JUDGED)
    .map((o) => o.identity);
  let refusal: { verdict: Verdict; cacheHit: boolean; identity: ImageIdentity } | undefined;
  let failure: UndecidedImage | undefined;
  for (const identity of ordered) {
    digests.push(identity.digest);
    try {
      const judged = await ctx.judge.judge(question(identity), signal);
      ctx.health.observe(identity.name, undefined);
      if (judged.platform) digests.push(judged.platform.digest);
      if (judged.verdict.decision === 'allow' && judged.verdict.wouldBe === 'allow')
        return { ...judged, identity };
      refusal ??= { ...judged, identity };
    } catch (err) {
      ctx.health.observe(identity.name, err);
      if (signal.aborted) throw err;
      // Undecided under the pod's own name if that failed, not under a name another tenant attached.
      if (failure === undefined || identity.name === podName) failure = new UndecidedImage(err, identity);
    }
  }
  if (refusal) return refusal;
  throw failure!;
}

function toIdentity(repoDigest: string): ImageIdentity[] {
  try {
    const ref = parseImageReference(repoDigest);
    return ref.digest ? [{ name: ref.name, digest: ref.digest }] : [];
  } catch {
    return [];
  }
}

function safeName(reference: string): string | undefined {
  if (reference === '') return undefined;
  try {
    return parseImageReference(reference).name;
  } catch {
    return undefined;
  }
}
