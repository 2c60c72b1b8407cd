import type { CompiledPolicy } from '../policy/types.js';
import { parseImageReference, type ImageIdentity } from '../reference/image-reference.js';
import type { AdmissionOutcome, ConfirmPull, PullFacts } from './admission.js';
import { budgeted } from './deadline.js';
import type { QuarantineHit } from './decision-record.js';
import type { DecisionContext } from './dependencies.js';
import type { Evaluation } from './evaluation.js';
import type { ImageFacts, Quarantine } from './ports.js';
import { errorCode } from './undecided.js';

/**
 * The quarantine (deny list) check, ADR 0056. It runs **first** at every decision, before the policy,
 * the verdict cache, dry run and breakglass, and its refusal is final: nothing overrides it. It never
 * goes through the verdict cache (which holds policy verdicts only), so a cached allow cannot bypass a
 * quarantine, and a lifted quarantine leaves no cached deny behind.
 */

/** Every name and digest one image is known by. */
export type QuarantineSubject = Parameters<Quarantine['check']>[0];

/** Audit reason of a refusal by a quarantine entry. */
export const QUARANTINED = 'QUARANTINED';
/** Audit reason of a refusal because the quarantine file cannot be trusted and no good list was read. */
export const QUARANTINE_INVALID = 'QUARANTINE_INVALID';

/** The subject of a pull: the reference's name, with each digest known for it (given, resolved, platform). */
export function pullSubject(name: string, digests: readonly (string | undefined)[]): QuarantineSubject {
  const known = digests.filter((d): d is string => d !== undefined && d !== '');
  return {
    names: known.length > 0 ? known.map((digest) => ({ name, digest })) : [{ name, digest: undefined }],
    digests: known,
  };
}

/**
 * The subject of a container image: its image id, every registry name and digest containerd holds for it
 * (each tenant that pulled it under another name adds one), its local tags and the pod-spec name.
 */
export function containerSubject(
  image: string,
  facts: ImageFacts | undefined,
  userSpecified: string,
): QuarantineSubject {
  const names: { name: string; digest: string | undefined }[] = [];
  const digests = [image, ...(facts ? [facts.id] : [])];
  for (const reference of [...(facts?.repoDigests ?? []), ...(facts?.repoTags ?? []), userSpecified]) {
    const parsed = parseOrUndefined(reference);
    if (!parsed) continue;
    names.push({ name: parsed.name, digest: parsed.digest });
    if (parsed.digest) digests.push(parsed.digest);
  }
  return { names, digests: [...new Set(digests)] };
}

/** The refusal of a quarantined image, or undefined when the quarantine does not cover it. */
export function quarantined(
  ctx: DecisionContext,
  policy: CompiledPolicy,
  subject: QuarantineSubject,
  identity: ImageIdentity | undefined,
): Evaluation | undefined {
  const quarantine = ctx.deps.quarantine;
  if (!quarantine) return undefined;
  const hit = quarantine.check(subject, ctx.deps.clock());
  return hit && quarantinedEvaluation(policy, hit, identity);
}

/** Whether the quarantine could refuse anything now (so tags and unconfirmed pulls must be pinned down). */
export function quarantineInForce(ctx: DecisionContext): boolean {
  return ctx.deps.quarantine?.inForce(ctx.deps.clock()) ?? false;
}

/** A final deny: not a policy verdict (never cached), not subject to dry run or breakglass. */
export function quarantinedEvaluation(
  policy: CompiledPolicy,
  hit: QuarantineHit,
  identity: ImageIdentity | undefined,
): Evaluation {
  return {
    outcome: { allowed: false, kind: 'denied', reason: quarantineMessage(hit, identity) },
    reason: hit.kind === 'entry' ? QUARANTINED : QUARANTINE_INVALID,
    verdict: undefined,
    identity,
    cacheHit: false,
    errorCode: undefined,
    wouldBe: undefined,
    policyRevision: policy.revision,
    quarantine: hit,
  };
}

/** The text the kubelet shows (after `SignatureValidationFailed: `): the code, the image, why and who. */
export function quarantineMessage(hit: QuarantineHit, identity: ImageIdentity | undefined): string {
  if (hit.kind === 'unknown') {
    return `${QUARANTINE_INVALID}: the node's quarantine list ${hit.file} cannot be trusted (${hit.problem.code}); every image is refused until it is fixed`;
  }
  const image =
    identity && identity.digest ? `${identity.name}@${identity.digest}` : (identity?.name ?? 'image');
  const terms = [
    ...(hit.ticket !== undefined ? [`ticket ${hit.ticket}`] : []),
    `entry ${hit.entry}`,
    ...(hit.expiresAt !== undefined ? [`until ${hit.expiresAt}`] : []),
  ];
  return `${QUARANTINED}: ${image} is quarantined on this node: ${clip(hit.reason, 300)} (${terms.join(', ')})`;
}

/**
 * The pull's confirm step, with the quarantine first: while the quarantine could refuse anything, the
 * image containerd just pulled (its id and every registry name and digest it now has) is checked, which
 * also covers pulls decided by name alone (an allowlisted name, ALWAYS_ALLOW) whose digest was never
 * resolved. A refusal is audited on its own record; then `next`, the usual confirm step, runs.
 */
export async function confirmNotQuarantined(
  ctx: DecisionContext,
  facts: PullFacts,
  name: string,
  imageRef: string,
  signal: AbortSignal,
  next: ConfirmPull,
): Promise<AdmissionOutcome> {
  if (!quarantineInForce(ctx)) return next(imageRef, signal);
  const { deps } = ctx;
  const started = deps.clock();
  const policy = deps.policy();
  let evaluation: Evaluation | undefined;
  let image: ImageFacts | undefined;
  try {
    image = await budgeted(deps.budgetMs, signal, (budget) => deps.images.lookup(imageRef, budget));
    evaluation = quarantined(ctx, policy, containerSubject(imageRef, image, ''), {
      name,
      digest: firstDigest(image, name) ?? imageRef,
    });
  } catch (err) {
    // Fail closed: an image that cannot be checked against the quarantine is not admitted.
    evaluation = {
      outcome: {
        allowed: false,
        kind: 'denied',
        reason: `cannot check the pulled image ${imageRef} against the quarantine list: ${(err as Error).message}`,
      },
      reason: 'UNDECIDED',
      verdict: undefined,
      identity: { name, digest: '' },
      cacheHit: false,
      errorCode: errorCode(err),
      wouldBe: undefined,
      policyRevision: policy.revision,
    };
  }
  if (!evaluation) return next(imageRef, signal);
  ctx.audit(
    {
      method: 'PullImage',
      image: facts.image,
      pod: facts.pod,
      container: undefined,
      digests: image ? containerSubject(imageRef, image, '').digests : [imageRef],
    },
    evaluation,
    started,
  );
  return evaluation.outcome;
}

function firstDigest(image: ImageFacts | undefined, name: string): string | undefined {
  for (const rd of image?.repoDigests ?? []) {
    const parsed = parseOrUndefined(rd);
    if (parsed?.name === name && parsed.digest) return parsed.digest;
  }
  return undefined;
}

function parseOrUndefined(reference: string): { name: string; digest: string | undefined } | undefined {
  if (reference === '') return undefined;
  try {
    const parsed = parseImageReference(reference);
    return { name: parsed.name, digest: parsed.digest };
  } catch {
    return undefined;
  }
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
