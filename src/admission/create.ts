import { selectRule } from '../policy/evaluate.js';
import type { CompiledPolicy, CompiledRule } from '../policy/types.js';
import type { AdmissionOutcome, CreateFacts } from './admission.js';
import { withBreakglass } from './breakglass-override.js';
import { namespaceOf, type DecisionContext } from './dependencies.js';
import {
  containerImageVerdict,
  IMAGE_ID,
  lookupContainerImage,
  rememberedContainerVerdict,
} from './container-image.js';
import { containerSubject, quarantined, quarantineInForce } from './quarantine-check.js';
import { refused, settle, type Evaluation } from './evaluation.js';
import type { ImageDecision } from './decision-record.js';
import type { SweepJudgements } from './revalidation.js';

export type ContainerMethod = 'CreateContainer' | 'Revalidation';

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
  return (await decideContainer(ctx, method, facts, signal)).outcome;
}

/**
 * checkContainer's decision with its reason and quarantine hit (re-validation reports quarantined images).
 * Re-validation within one `sweep` judges each image once per namespace and policy revision (no
 * breakglass, no pod-spec name: nothing else of the container counts); every container is audited.
 */
export async function decideContainer(
  ctx: DecisionContext,
  method: ContainerMethod,
  facts: CreateFacts,
  signal: AbortSignal,
  sweep?: SweepJudgements,
): Promise<Evaluation> {
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
    return tooMany;
  }
  const judge = (image: string) => judgeContainerImage(ctx, policy, method, facts, image, signal);
  const judged = await Promise.all(
    images.map((image) =>
      sweep !== undefined && method === 'Revalidation' && facts.userSpecifiedImage === ''
        ? sweep.once(`${policy.revision}\n${facts.pod.namespace}\n${image}`, () => judge(image))
        : judge(image),
    ),
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
  return evaluation;
}

/**
 * One image of a container: the quarantine first (every name and digest containerd holds for it; a
 * refusal is final), then its verdict (or why none could be reached), then its own breakglass.
 */
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
  // While a quarantine is in force every rule needs the image id: a tag could move to a quarantined image.
  const bound = judgedImageMatters(rule) || quarantineInForce(ctx);
  if (method === 'CreateContainer' && !IMAGE_ID.test(image) && bound) {
    return { image, evaluation: notContentAddressed(policy, image), digests: [] };
  }
  const digests: string[] = [];
  // The fast path (docs/adr/0006) only while no quarantine is in force: a quarantine entry may name any
  // registry name or digest containerd holds for the image, which only the look-up below knows.
  const remembered =
    method === 'CreateContainer' && !quarantineInForce(ctx)
      ? await rememberedContainerVerdict(ctx, policy, image, facts.userSpecifiedImage, namespace, signal)
      : undefined;
  let evaluation;
  if (remembered) {
    digests.push(...remembered.reported);
    evaluation = await settle(policy, rule, undefined, () => Promise.resolve(remembered.judged));
  } else {
    const looked = await lookupContainerImage(ctx, image, signal).then(
      (found) => ({ found, err: undefined }),
      (err: unknown) => ({ found: undefined, err }),
    );
    const subject = containerSubject(image, looked.found, facts.userSpecifiedImage);
    const quarantine = quarantined(ctx, policy, subject, {
      name: subject.names[0]?.name ?? 'image',
      digest: subject.names[0]?.digest ?? image,
    });
    if (quarantine) return { image, evaluation: quarantine, digests: subject.digests };
    evaluation = await settle(policy, rule, undefined, () =>
      looked.found
        ? containerImageVerdict(
            ctx,
            policy,
            looked.found,
            facts.userSpecifiedImage,
            namespace,
            signal,
            digests,
          )
        : Promise.reject(looked.err),
    );
  }
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
