import { planDecision, selectRule } from '../policy/evaluate.js';
import type { CompiledPolicy } from '../policy/types.js';
import type { Verdict } from '../policy/verdict.js';
import { parseImageReference, type ImageIdentity } from '../reference/image-reference.js';
import type { AdmissionOutcome, CreateFacts } from './admission.js';
import { withBreakglass } from './breakglass-override.js';
import { budgeted } from './deadline.js';
import { namespaceOf, type DecisionContext } from './dependencies.js';
import { settle, type Evaluation } from './evaluation.js';

export type ContainerMethod = 'CreateContainer' | 'Revalidation';

/**
 * CreateContainer (and re-validation of running containers): every image of the container must pass.
 * A breakglass applies to CreateContainer only; re-validation reports what the policy alone says.
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
  const namespace = namespaceOf(facts.pod);
  const rule = selectRule(policy, namespace);
  let last: Evaluation | undefined;
  const digests: string[] = [];
  for (const image of [facts.image, ...facts.volumeImages]) {
    last = await settle(policy, rule, undefined, () =>
      imageVerdict(ctx, policy, image, facts.userSpecifiedImage, namespace, signal, digests),
    );
    if (!last.outcome.allowed) break;
  }
  const evaluation =
    method === 'CreateContainer'
      ? withBreakglass(deps, last!, facts.pod, last!.identity?.name, last!.identity?.digest)
      : last!;
  ctx.audit(
    { method, image: facts.image, pod: facts.pod, container: facts.containerName, digests },
    evaluation,
    started,
  );
  return evaluation.outcome;
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
  let result: { verdict: Verdict; cacheHit: boolean; identity?: ImageIdentity } | undefined;
  for (const identity of identities) {
    digests.push(identity.digest);
    const judged = await ctx.judge.judge(
      { policy, identity, namespace, credentials: undefined, imageId: facts.id },
      signal,
    );
    result = { ...judged, identity };
    if (judged.platform) digests.push(judged.platform.digest);
    if (judged.verdict.decision === 'allow' && judged.verdict.wouldBe === 'allow') break;
  }
  return result!;
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
