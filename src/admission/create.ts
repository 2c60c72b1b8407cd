import { planDecision, selectRule } from '../policy/evaluate.js';
import type { CompiledPolicy, CompiledRule } from '../policy/types.js';
import type { Verdict } from '../policy/verdict.js';
import { parseImageReference, type ImageIdentity } from '../reference/image-reference.js';
import type { AdmissionOutcome, CreateFacts } from './admission.js';
import { withBreakglass } from './breakglass-override.js';
import { budgeted } from './deadline.js';
import { namespaceOf, type DecisionContext } from './dependencies.js';
import { refused, settle, UndecidedImage, type Evaluation } from './evaluation.js';
import type { ImageDecision } from './decision-record.js';

export type ContainerMethod = 'CreateContainer' | 'Revalidation';

/** At most this many registry names of one image id are judged (cached and healthy first). */
export const MAX_NAMES_JUDGED = 16;

/** At most this many images (its own and image volumes) per container; more is refused unjudged. */
export const MAX_CONTAINER_IMAGES = 32;

/** One image of the container, judged (breakglass applied for CreateContainer). */
interface JudgedImage {
  readonly image: string;
  readonly evaluation: Evaluation;
  readonly digests: readonly string[];
}

/**
 * CreateContainer (and re-validation of running containers): every image of the container (its own and
 * each image volume) is judged on its own, and each must pass. A breakglass admits only the images it
 * covers (CreateContainer only; re-validation reports what the policy alone says). One record lists
 * every image.
 */
export async function checkContainer(
  ctx: DecisionContext,
  method: ContainerMethod,
  facts: CreateFacts,
  signal: AbortSignal,
): Promise<AdmissionOutcome> {
  const { deps } = ctx;
  const started = deps.clock();
  const policy = deps.policy();
  const images = [facts.image, ...facts.volumeImages];
  const subject = { method, image: facts.image, pod: facts.pod, container: facts.containerName };
  if (images.length > MAX_CONTAINER_IMAGES) {
    const tooMany = refused(
      policy,
      'TOO_MANY_IMAGES',
      `a container may mount at most ${MAX_CONTAINER_IMAGES} images, not ${images.length}`,
      'CG_ERR_TOO_MANY_IMAGES',
    );
    ctx.audit({ ...subject, digests: [] }, tooMany, started);
    return tooMany.outcome;
  }
  const judged = await Promise.all(
    images.map((image) => judgeContainerImage(ctx, policy, method, facts, image, signal)),
  );
  const evaluation = containerEvaluation(judged);
  ctx.audit(
    {
      ...subject,
      digests: [...new Set(judged.flatMap((j) => j.digests))],
      images: judged.map(imageDecision),
    },
    evaluation,
    started,
  );
  return evaluation.outcome;
}

/** One image of a container: its verdict (or why none could be reached), then its own breakglass. */
async function judgeContainerImage(
  ctx: DecisionContext,
  policy: CompiledPolicy,
  method: ContainerMethod,
  facts: CreateFacts,
  image: string,
  signal: AbortSignal,
): Promise<JudgedImage> {
  const namespace = namespaceOf(facts.pod);
  const rule = selectRule(policy, namespace);
  if (method === 'CreateContainer' && !IMAGE_ID.test(image) && judgedImageMatters(rule)) {
    return { image, evaluation: notContentAddressed(policy, image), digests: [] };
  }
  const digests: string[] = [];
  const evaluation = await settle(policy, rule, undefined, () =>
    imageVerdict(ctx, policy, image, facts.userSpecifiedImage, namespace, signal, digests),
  );
  const final =
    method === 'CreateContainer'
      ? withBreakglass(
          ctx.deps,
          evaluation,
          facts.pod,
          evaluation.identity?.name,
          evaluation.identity?.digest,
        )
      : evaluation;
  return { image, evaluation: final, digests };
}

/** A content-addressed image id: what containerd looks up by id, never through a (mutable) tag. */
const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;

/**
 * Whether what runs must be what was judged. Containerd resolves a tag or name again when it creates
 * the container, after criguard judged it, and anyone who can pull through the socket can move the
 * tag in between: so a rule whose verdict depends on the image takes image ids only (the kubelet sends
 * nothing else). An ALWAYS_ALLOW rule admits any image, a dry-run rule blocks none: there a tag is
 * judged (and audited) as before.
 */
function judgedImageMatters(rule: CompiledRule): boolean {
  return rule.evaluationMode !== 'ALWAYS_ALLOW' && rule.enforcementMode !== 'DRYRUN_AUDIT_LOG_ONLY';
}

function notContentAddressed(policy: CompiledPolicy, image: string): Evaluation {
  const shown = image.length > 200 ? `${image.slice(0, 199)}…` : image;
  return refused(
    policy,
    'IMAGE_NOT_CONTENT_ADDRESSED',
    `CreateContainer must name the image by its id (sha256:<64 hex>, as the kubelet does), not "${shown}": a tag could move between the check and the create`,
    'CG_ERR_IMAGE_NOT_CONTENT_ADDRESSED',
  );
}

/**
 * The container's evaluation: the first refused image decides (a deny of any image denies the
 * container); else the first image a breakglass admitted (so the record says one was used); else the
 * container's own image.
 */
function containerEvaluation(judged: readonly JudgedImage[]): Evaluation {
  const first = (p: (e: Evaluation) => boolean) => judged.find((j) => p(j.evaluation))?.evaluation;
  return (
    first((e) => !e.outcome.allowed) ?? first((e) => e.breakglass !== undefined) ?? judged[0]!.evaluation
  );
}

function imageDecision(judged: JudgedImage): ImageDecision {
  const { evaluation } = judged;
  return {
    image: judged.image,
    imageName: evaluation.identity?.name,
    digests: judged.digests,
    outcome: evaluation.outcome.allowed ? 'allow' : 'deny',
    reason: evaluation.reason,
    errorCode: evaluation.errorCode,
    breakglass: evaluation.breakglass
      ? { source: evaluation.breakglass.source, matched: evaluation.breakglass.matched }
      : undefined,
  };
}

/**
 * One image of a container: containerd's repo digests for the image id, each evaluated; the first allow
 * wins. An image with no registry digest is judged under its image id (only a digest pin or a rule that
 * needs no attestation can admit it).
 */
async function imageVerdict(
  ctx: DecisionContext,
  policy: CompiledPolicy,
  image: string,
  userSpecified: string,
  namespace: string | undefined,
  signal: AbortSignal,
  digests: string[],
): Promise<{ verdict: Verdict; cacheHit: boolean; identity?: ImageIdentity }> {
  const { deps } = ctx;
  const facts = await budgeted(deps.budgetMs, signal, (budget) => deps.images.lookup(image, budget));
  if (!facts)
    throw Object.assign(new Error(`image ${image} is not present`), { code: 'CG_ERR_IMAGE_NOT_PRESENT' });
  if (IMAGE_ID.test(image) && facts.id !== image)
    throw Object.assign(new Error(`containerd answered image ${facts.id} for ${image}`), {
      code: 'CG_ERR_IMAGE_ID_MISMATCH',
    });
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
    throw Object.assign(new Error(`image ${facts.id} has no registry digest`), {
      code: 'CG_ERR_NO_REGISTRY_DIGEST',
    });
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
