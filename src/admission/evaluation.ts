import type { ErrorCode } from '../errors/catalog.js';
import type { CompiledPolicy, CompiledRule } from '../policy/types.js';
import type { Verdict } from '../policy/verdict.js';
import type { ImageIdentity } from '../reference/image-reference.js';
import type { AdmissionOutcome } from './admission.js';
import type { DecisionRecord } from './decision-record.js';
import { denyMessage } from './deny-message.js';
import { decideUndecided, errorCode } from './undecided.js';

/** An evaluation of one image: the outcome, and what the audit record needs. */
export interface Evaluation {
  readonly outcome: AdmissionOutcome;
  readonly reason: string;
  readonly verdict: Verdict | undefined;
  readonly identity: ImageIdentity | undefined;
  readonly cacheHit: boolean;
  readonly errorCode: ErrorCode | undefined;
  readonly wouldBe: DecisionRecord['wouldBe'];
  readonly policyRevision: string;
  readonly breakglass?: DecisionRecord['breakglass'];
  /** Set when the quarantine list refused the image (quarantine-check.ts): final, never overridden. */
  readonly quarantine?: DecisionRecord['quarantine'];
}

/**
 * Runs `work` and turns its verdict, or its failure, into an Evaluation: the only place a decision's
 * "could not decide" is handed to `decideUndecided`.
 */
export async function settle(
  policy: CompiledPolicy,
  rule: CompiledRule,
  identity: ImageIdentity | undefined,
  work: () => Promise<{ verdict: Verdict; cacheHit: boolean; identity?: ImageIdentity }>,
): Promise<Evaluation> {
  try {
    const result = await work();
    return fromVerdict(result.verdict, result.identity ?? identity, result.cacheHit);
  } catch (err) {
    if (err instanceof UndecidedImage) return undecided(policy, rule, err.identity, err.cause);
    return undecided(policy, rule, identity, err);
  }
}

/** A failure to judge one named image (of several the work tried): settled under that image's name. */
export class UndecidedImage extends Error {
  constructor(
    override readonly cause: unknown,
    readonly identity: ImageIdentity,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/** The Evaluation of a decision that could not be made (`err` says why). */
export function undecided(
  policy: CompiledPolicy,
  rule: CompiledRule,
  identity: ImageIdentity | undefined,
  err: unknown,
): Evaluation {
  const settled = decideUndecided(rule, err, identity?.name ?? 'image', identity?.name);
  return {
    outcome: settled.outcome,
    reason: settled.reason,
    verdict: undefined,
    identity,
    cacheHit: false,
    errorCode: errorCode(err),
    wouldBe: settled.dryRun ? 'undecided' : undefined,
    policyRevision: policy.revision,
  };
}

export function fromVerdict(
  verdict: Verdict,
  identity: ImageIdentity | undefined,
  cacheHit: boolean,
): Evaluation {
  const outcome: AdmissionOutcome =
    verdict.decision === 'allow'
      ? { allowed: true }
      : { allowed: false, kind: 'denied', reason: denyMessage(verdict, identity) };
  return {
    outcome,
    reason: verdict.reason,
    verdict,
    identity,
    cacheHit,
    errorCode: undefined,
    wouldBe: verdict.wouldBe,
    policyRevision: verdict.policyRevision,
  };
}

/** A request refused before any judgement (bad reference, unbound tag): not overridable, audited. */
export function refused(
  policy: CompiledPolicy,
  reason: string,
  message: string,
  code: ErrorCode | undefined,
  identity?: ImageIdentity,
): Evaluation {
  return {
    outcome: { allowed: false, kind: 'bad-request', reason: message },
    reason,
    verdict: undefined,
    identity,
    cacheHit: false,
    errorCode: code,
    wouldBe: undefined,
    policyRevision: policy.revision,
  };
}

export function badReference(policy: CompiledPolicy, err: unknown): Evaluation {
  const why = (err as { reason?: string }).reason ?? 'invalid';
  return refused(policy, 'INVALID_REFERENCE', `invalid image reference (${why})`, errorCode(err));
}
