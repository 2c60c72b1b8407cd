import { decideWithAttestations, planDecision } from '../policy/evaluate.js';
import { verifyPgpSignatures } from '../verify/pgp.js';
import { VerificationSession } from '../verify/verification-session.js';
import type { CompiledPolicy, CompiledRule } from '../policy/types.js';
import type { Verdict } from '../policy/verdict.js';
import type { ImageIdentity } from '../reference/image-reference.js';
import type { VerdictCache } from '../cache/verdict-cache.js';
import type { AttestationRecord } from '../verify/attestation.js';
import type { RegistryCredentials } from './admission.js';
import { budgeted, cancelled, raceAbort, withBudget } from './deadline.js';
import type { EvidenceSource, PlatformResolver } from './ports.js';
import { VerificationSlots } from './verification-slots.js';

/** A policy verdict for one image, and how it was reached. */
export interface ImageVerdict {
  readonly verdict: Verdict;
  readonly cacheHit: boolean;
  /** Set when the verdict is the platform manifest's, not the index's own. */
  readonly platform?: { readonly digest: string; readonly configDigest: string };
}

/** What one image judgement asks about. */
export interface ImageQuestion {
  readonly policy: CompiledPolicy;
  readonly identity: ImageIdentity;
  readonly namespace: string | undefined;
  readonly credentials: RegistryCredentials | undefined;
  /** CreateContainer: the image id that will run; a platform manifest must have it as its config. */
  readonly imageId?: string | undefined;
}

export interface ImageJudgeDependencies {
  readonly evidence: readonly EvidenceSource[];
  readonly platforms?: PlatformResolver | undefined;
  readonly cache: VerdictCache;
  readonly budgetMs: number;
  /** Now, in ms since the epoch: OpenPGP keys are checked for expiry and revocation as of this time. */
  readonly clock: () => number;
  /** The limit on verifications running at once (verification-slots.ts); undefined: the default. */
  readonly verificationSlots?: VerificationSlots | undefined;
}

/** The callers of one digest's verification: when every one has gone, a verification still queued leaves. */
interface Interest {
  callers: number;
  readonly gone: AbortController;
}

/** Judges image digests under a policy: cache, evidence loop, verification; multi-arch fallback. */
export interface ImageJudge {
  /**
   * Verdict for one image identity, from cache or by verifying attestations (single flight). When the
   * digest is a multi-arch index without valid attestations, the manifest the index holds for this node's
   * platform is judged instead (and, with `imageId`, must be the image that runs). Rejects when no
   * verdict could be reached.
   */
  judge(question: ImageQuestion, signal: AbortSignal): Promise<ImageVerdict>;
  /** The cached verdict for an identity, if any (no I/O). */
  cached(question: ImageQuestion): Verdict | undefined;
}

export function createImageJudge(deps: ImageJudgeDependencies): ImageJudge {
  const slots = deps.verificationSlots ?? new VerificationSlots();
  const interests = new Map<string, Interest>();

  /** The digest's own verdict: a decision that needs no evidence, the cache, or the evidence loop. */
  async function digestVerdict(question: ImageQuestion, signal: AbortSignal): Promise<ImageVerdict> {
    const { policy, identity, namespace, credentials } = question;
    const plan = planDecision(policy, identity, namespace);
    if (plan.kind === 'decided') return { verdict: plan.verdict, cacheHit: false };
    const key = cacheKey(policy, plan.rule, identity);
    const cached = deps.cache.get(key);
    if (cached) return { verdict: cached, cacheHit: true };
    const interest = join(key, signal);
    try {
      const verdict = await raceAbort(
        // Single flight: identical concurrent decisions share one verification, and one slot.
        deps.cache.share(key, () =>
          admitted(interest.gone, (budget) => evidenceLoop(policy, plan.rule, identity, credentials, budget)),
        ),
        signal,
      );
      return { verdict, cacheHit: false };
    } finally {
      interest.leave();
    }
  }

  /**
   * Counts `signal`'s call among the callers of `key`'s verification until `leave` (or the call aborts);
   * `gone` aborts (CG_ERR_CANCELLED) when the last one leaves.
   */
  function join(key: string, signal: AbortSignal): { gone: AbortSignal; leave(): void } {
    let interest = interests.get(key);
    if (interest === undefined) {
      interest = { callers: 0, gone: new AbortController() };
      interests.set(key, interest);
    }
    const mine = interest;
    mine.callers += 1;
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      signal.removeEventListener('abort', leave);
      mine.callers -= 1;
      if (mine.callers === 0) {
        if (interests.get(key) === mine) interests.delete(key);
        mine.gone.abort(cancelled());
      }
    };
    signal.addEventListener('abort', leave, { once: true });
    return { gone: mine.gone.signal, leave };
  }

  /**
   * `verify` once a verification slot is free (FIFO), under one budget of `budgetMs` that the wait counts
   * against. A full queue is CG_ERR_VERIFY_BUSY at once; so is a budget that runs out while waiting, or
   * while verifying after a wait of a tenth of it or more (the queue, which callers can fill, then took
   * the time, not the registry: never an `onUndecided: ALLOW`). When every caller has gone (`gone`)
   * while it waits, it leaves the queue; once verifying, it runs to its end or its budget (the kubelet's
   * retry finds the verdict cached), and frees its slot then.
   */
  function admitted(gone: AbortSignal, verify: (budget: AbortSignal) => Promise<Verdict>): Promise<Verdict> {
    const asked = deps.clock();
    let waitedMs: number | undefined;
    return withBudget(
      deps.budgetMs,
      async (budget) => {
        const queued = !slots.available;
        const release = await slots.acquire(AbortSignal.any([budget, gone]));
        waitedMs = queued ? deps.clock() - asked : 0;
        // The slot is free once the budget is spent, even if some work ignores the abort and runs on.
        budget.addEventListener('abort', release, { once: true });
        try {
          return await verify(budget);
        } finally {
          budget.removeEventListener('abort', release);
          release();
        }
      },
      () => {
        if (waitedMs === undefined)
          return slots.busy(`; waited ${deps.clock() - asked} ms for a verification slot`);
        if (waitedMs * 10 >= deps.budgetMs)
          return slots.busy(
            `; waited ${waitedMs} of its ${deps.budgetMs} ms for a verification slot, and the rest did not suffice`,
          );
        return undefined;
      },
    );
  }

  /**
   * Weighs each evidence source's records in order, only while the records gathered so far do not admit.
   * A source marked `overlap` is fetched together with the one before it (independent requests to the
   * same registry overlap); a fetch not needed once the records admit is cancelled, and its failure
   * counts only if its turn comes. Other sources are asked only when their turn comes.
   */
  async function evidenceLoop(
    policy: CompiledPolicy,
    rule: CompiledRule,
    identity: ImageIdentity,
    credentials: RegistryCredentials | undefined,
    budget: AbortSignal,
  ): Promise<Verdict> {
    const records: AttestationRecord[] = [];
    const session = new VerificationSession();
    let verdict: Verdict | undefined;
    const unneeded = new AbortController();
    const signal = AbortSignal.any([budget, unneeded.signal]);
    const sources = deps.evidence;
    const started: Array<Promise<AttestationRecord[]>> = [];
    const start = (i: number): Promise<AttestationRecord[]> => {
      if (started[i] === undefined) {
        const fetching = sources[i]!.fetch(identity, credentials, signal);
        fetching.catch(() => undefined); // observed in its turn, or not needed
        started[i] = fetching;
      }
      return started[i]!;
    };
    try {
      for (let i = 0; i < sources.length; i++) {
        const fetching = start(i);
        // Started early; its outcome is observed in its own turn (start() attached a handler).
        for (let next = i + 1; next < sources.length && sources[next]!.overlap === true; next++)
          void start(next);
        const fetched = await fetching;
        // OpenPGP signatures are checked as of now (key expiry and revocation), then looked up by the verdict.
        await verifyPgpSignatures(rule.attestors, fetched, new Date(deps.clock()));
        records.push(...fetched);
        verdict = await decideWithAttestations(policy, rule, identity, records, session);
        if (verdict.wouldBe === 'allow') break;
      }
    } finally {
      unneeded.abort();
    }
    return verdict ?? decideWithAttestations(policy, rule, identity, records, session);
  }

  return {
    async judge(question, signal) {
      // The digest's own evidence first; if it does not admit (or cannot be fetched), the platform
      // manifest's. A failure is rethrown only when the platform path does not admit either.
      let own: ImageVerdict | undefined;
      let failure: unknown;
      try {
        own = await digestVerdict(question, signal);
      } catch (err) {
        failure = err;
      }
      const done = (): ImageVerdict => {
        if (own) return own;
        throw failure;
      };
      const platforms = deps.platforms;
      if (own?.verdict.wouldBe === 'allow' || own?.verdict.rule.kind === 'allowlist' || !platforms)
        return done();
      const { identity, credentials, imageId } = question;
      let platform;
      try {
        platform = await budgeted(deps.budgetMs, signal, (budget) =>
          platforms.platformManifest(identity, credentials, budget),
        );
      } catch (err) {
        if (own) throw err;
        return done();
      }
      if (!platform || (imageId !== undefined && platform.configDigest !== imageId)) return done();
      const inner = await digestVerdict(
        { ...question, identity: { name: identity.name, digest: platform.digest } },
        signal,
      );
      return inner.verdict.wouldBe === 'allow' ? { ...inner, platform } : done();
    },

    cached(question) {
      const plan = planDecision(question.policy, question.identity, question.namespace);
      if (plan.kind === 'decided') return plan.verdict;
      return deps.cache.get(cacheKey(question.policy, plan.rule, question.identity));
    },
  };
}

/** Verdict cache key: what a verdict depends on (policy revision, rule, repository name, digest). */
export function cacheKey(policy: CompiledPolicy, rule: CompiledRule, identity: ImageIdentity): string {
  return `${policy.revision}|${rule.kind}:${rule.key ?? ''}|${identity.name}|${identity.digest}`;
}
