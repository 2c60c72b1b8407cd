import { decideWithAttestations, planDecision, selectRule } from '../policy/evaluate.js';
import type { CompiledPolicy, CompiledRule } from '../policy/types.js';
import type { Verdict } from '../policy/verdict.js';
import {
  parseImageReference,
  type ImageIdentity,
  type ImageReference,
} from '../reference/image-reference.js';
import type { VerdictCache } from '../cache/verdict-cache.js';
import type { AttestationRecord } from '../verify/attestation.js';
import { verifyPgpSignatures } from '../verify/pgp.js';
import type {
  Admission,
  AdmissionOutcome,
  CreateFacts,
  PodFacts,
  PullFacts,
  RegistryCredentials,
} from './admission.js';
import { DECISION_RECORD_SCHEMA, type DecisionRecord } from './decision-record.js';
import { denyMessage } from './deny-message.js';
import type {
  Breakglass,
  Clock,
  DecisionSink,
  DigestResolver,
  EvidenceSource,
  ImageLookup,
  PlatformResolver,
} from './ports.js';
import { decideUndecided, errorCode } from './undecided.js';

export interface AdmissionDependencies {
  /** The policy in force (swapped atomically on reload). */
  readonly policy: () => CompiledPolicy;
  readonly resolver: DigestResolver;
  /**
   * Attestation sources in order (cheapest first, e.g. the local directory, then the registry). Each is
   * asked only while the records gathered so far do not satisfy the rule.
   */
  readonly evidence: readonly EvidenceSource[];
  /**
   * Multi-arch: when an index digest lacks attestations, the manifest it holds for this node's platform
   * may carry them (signed per platform). Undefined: only the digest itself counts.
   */
  readonly platforms?: PlatformResolver | undefined;
  readonly images: ImageLookup;
  readonly cache: VerdictCache;
  readonly sink: DecisionSink;
  readonly clock: Clock;
  /** Time budget of one decision's registry and verification work. */
  readonly budgetMs: number;
  /** The breakglass file monitor; undefined when none is configured. */
  readonly breakglass?: Breakglass | undefined;
  /** Honour the Binary Authorization pod label `image-policy.k8s.io/break-glass: "true"` (off by default). */
  readonly podBreakglassLabel?: boolean;
}

/** Binary Authorization's breakglass pod label. */
export const BREAKGLASS_LABEL = 'image-policy.k8s.io/break-glass';

/** What admitPull remembers for confirmPull, keyed by the facts object the gate passes to both. */
interface PendingPull {
  readonly identity: ImageIdentity | undefined;
  readonly verdict: Verdict | undefined;
}

/** An evaluation of one image: the outcome, and what the audit record needs. */
interface Evaluation {
  readonly outcome: AdmissionOutcome;
  readonly reason: string;
  readonly verdict: Verdict | undefined;
  readonly identity: ImageIdentity | undefined;
  readonly cacheHit: boolean;
  readonly errorCode: string | undefined;
  readonly wouldBe: DecisionRecord['wouldBe'];
  readonly policyRevision: string;
  readonly breakglass?: DecisionRecord['breakglass'];
}

// A digest that names no image, used only to ask the policy whether a decision needs the real digest.
const NO_DIGEST = `sha256:${'0'.repeat(64)}`;

/**
 * The single decision point: breakglass → policy plan → cache → resolve → fetch → verify → evaluate →
 * audit. Implements the transport's Admission port. Never throws: every failure is a value, and every
 * decision writes exactly one record to the sink.
 */
export function createAdmission(deps: AdmissionDependencies): Admission & {
  /** Re-evaluates a running container's image under the current policy; audited as method Revalidation. */
  revalidate(facts: CreateFacts, signal: AbortSignal): Promise<AdmissionOutcome>;
} {
  const pending = new WeakMap<PullFacts, PendingPull>();

  /**
   * Verdict for one image identity, from cache or by verifying attestations (single flight). When the
   * digest is a multi-arch index without valid attestations, the manifest the index holds for this node's
   * platform is judged instead (and, for CreateContainer, must be the image that runs: `imageId`).
   */
  async function verdictFor(
    policy: CompiledPolicy,
    identity: ImageIdentity,
    namespace: string | undefined,
    credentials: RegistryCredentials | undefined,
    signal: AbortSignal,
    imageId?: string,
  ): Promise<{ verdict: Verdict; cacheHit: boolean; platformDigest?: string }> {
    // The digest's own evidence first; if it does not admit (or cannot be fetched), the platform
    // manifest's. A failure is rethrown only when the platform path does not admit either.
    let own: { verdict: Verdict; cacheHit: boolean } | undefined;
    let failure: unknown;
    try {
      own = await digestVerdict(policy, identity, namespace, credentials, signal);
    } catch (err) {
      failure = err;
    }
    const done = (): { verdict: Verdict; cacheHit: boolean } => {
      if (own) return own;
      throw failure;
    };
    if (own?.verdict.wouldBe === 'allow' || own?.verdict.rule.kind === 'allowlist' || !deps.platforms)
      return done();
    const platforms = deps.platforms;
    let platform;
    try {
      platform = await withBudget(deps.budgetMs, (budget) =>
        raceAbort(platforms.platformManifest(identity, credentials, budget), signal),
      );
    } catch (err) {
      if (own) throw err;
      return done();
    }
    if (!platform || (imageId !== undefined && platform.configDigest !== imageId)) return done();
    const inner = await digestVerdict(
      policy,
      { name: identity.name, digest: platform.digest },
      namespace,
      credentials,
      signal,
    );
    return inner.verdict.wouldBe === 'allow' ? { ...inner, platformDigest: platform.digest } : done();
  }

  async function digestVerdict(
    policy: CompiledPolicy,
    identity: ImageIdentity,
    namespace: string | undefined,
    credentials: RegistryCredentials | undefined,
    signal: AbortSignal,
  ): Promise<{ verdict: Verdict; cacheHit: boolean }> {
    const plan = planDecision(policy, identity, namespace);
    if (plan.kind === 'decided') return { verdict: plan.verdict, cacheHit: false };
    const key = cacheKey(policy, plan.rule, identity);
    const cached = deps.cache.get(key);
    if (cached) return { verdict: cached, cacheHit: true };
    const verdict = await raceAbort(
      deps.cache.share(key, () =>
        withBudget(deps.budgetMs, async (budget) => {
          const records: AttestationRecord[] = [];
          let verdict: Verdict | undefined;
          for (const source of deps.evidence) {
            const fetched = await source.fetch(identity, credentials, budget);
            // OpenPGP signatures verify asynchronously: done here, looked up by decideWithAttestations.
            await verifyPgpSignatures(plan.rule.attestors, fetched, new Date(deps.clock()));
            records.push(...fetched);
            verdict = decideWithAttestations(policy, plan.rule, identity, records);
            if (verdict.wouldBe === 'allow') break;
          }
          return verdict ?? decideWithAttestations(policy, plan.rule, identity, records);
        }),
      ),
      signal,
    );
    return { verdict, cacheHit: false };
  }

  /** Turns a verdict or an error into an Evaluation (the only place "could not decide" is settled). */
  async function evaluate(
    policy: CompiledPolicy,
    rule: CompiledRule,
    identity: ImageIdentity | undefined,
    work: () => Promise<{ verdict: Verdict; cacheHit: boolean; identity?: ImageIdentity }>,
  ): Promise<Evaluation> {
    try {
      const result = await work();
      return fromVerdict(result.verdict, result.identity ?? identity, result.cacheHit);
    } catch (err) {
      const settled = decideUndecided(rule, err, identity?.name ?? 'image');
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
  }

  function record(
    method: DecisionRecord['method'],
    image: string,
    pod: PodFacts,
    container: string | undefined,
    started: number,
    evaluation: Evaluation,
    digests: readonly string[],
  ): void {
    const verdict = evaluation.verdict;
    deps.sink.record({
      schema: DECISION_RECORD_SCHEMA,
      time: new Date(deps.clock()).toISOString(),
      method,
      image,
      imageName: evaluation.identity?.name,
      digests,
      pod: { namespace: pod.namespace, name: pod.name, uid: pod.uid },
      container,
      outcome: evaluation.outcome.allowed ? 'allow' : 'deny',
      reason: evaluation.reason,
      message: evaluation.breakglass
        ? evaluation.breakglass.overridden.message
        : evaluation.outcome.allowed
          ? verdict?.wouldBe === 'deny'
            ? denyMessage(verdict, evaluation.identity)
            : undefined
          : evaluation.outcome.reason,
      verdict,
      dryRun: verdict?.dryRun ?? evaluation.wouldBe === 'undecided',
      wouldBe: evaluation.wouldBe ?? verdict?.wouldBe,
      errorCode: evaluation.errorCode,
      breakglass: evaluation.breakglass,
      cacheHit: evaluation.cacheHit,
      latencyMs: deps.clock() - started,
      policyRevision: evaluation.policyRevision,
    });
  }

  /**
   * A deny that a breakglass covers becomes an allow, audited with what it overrode. Expiry is checked
   * now, at this decision. Allows pass unchanged.
   */
  function withBreakglass(
    evaluation: Evaluation,
    pod: PodFacts,
    imageName: string | undefined,
    digest: string | undefined,
  ): Evaluation {
    if (evaluation.outcome.allowed) return evaluation;
    const namespace = pod.namespace || undefined;
    const fromFile = deps.breakglass?.grantFor({ namespace, imageName, digest }, deps.clock());
    const fromLabel =
      !fromFile && deps.podBreakglassLabel && pod.labels[BREAKGLASS_LABEL] === 'true'
        ? {
            reason: `pod label ${BREAKGLASS_LABEL}`,
            ticket: undefined,
            createdBy: undefined,
            expiresAt: undefined,
            fileSha256: undefined,
            matched: [`label:${BREAKGLASS_LABEL}`],
          }
        : undefined;
    const grant = fromFile ?? fromLabel;
    if (!grant) return evaluation;
    return {
      ...evaluation,
      outcome: { allowed: true },
      reason: 'BREAKGLASS',
      breakglass: {
        ...grant,
        source: fromFile ? 'file' : 'pod-label',
        overridden: { reason: evaluation.reason, message: evaluation.outcome.reason },
      },
    };
  }

  return {
    async admitPull(facts, signal) {
      const started = deps.clock();
      const policy = deps.policy();
      const namespace = facts.pod.namespace || undefined;
      const rule = selectRule(policy, namespace);
      let reference: ImageReference;
      try {
        reference = parseImageReference(facts.image);
      } catch (err) {
        const evaluation = badReference(policy, err);
        record('PullImage', facts.image, facts.pod, undefined, started, evaluation, []);
        return evaluation.outcome;
      }
      let identity: ImageIdentity | undefined;
      let platformDigest: string | undefined;
      const named = { name: reference.name, digest: reference.digest ?? '' };
      const evaluation = await evaluate(policy, rule, named, async () => {
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
          (await withBudget(deps.budgetMs, (budget) =>
            raceAbort(deps.resolver.resolve(reference, facts.credentials, budget), signal),
          ));
        identity = { name: reference.name, digest };
        const result = await verdictFor(policy, identity, namespace, facts.credentials, signal);
        platformDigest = result.platformDigest;
        return { ...result, identity };
      });
      const final = withBreakglass(evaluation, facts.pod, reference.name, identity?.digest);
      if (final.outcome.allowed) pending.set(facts, { identity, verdict: evaluation.verdict });
      const audited = { ...final, identity: identity ?? { name: reference.name, digest: '' } };
      record(
        'PullImage',
        facts.image,
        facts.pod,
        undefined,
        started,
        audited,
        [identity?.digest, platformDigest].filter((d): d is string => d !== undefined),
      );
      return final.outcome;
    },

    async confirmPull(facts, imageRef, signal) {
      const remembered = pending.get(facts);
      pending.delete(facts);
      const identity = remembered?.identity;
      if (!identity) return { allowed: true }; // decided without a digest: nothing to compare
      const started = deps.clock();
      const policy = deps.policy();
      const rule = selectRule(policy, facts.pod.namespace || undefined);
      const expected = `${identity.name}@${identity.digest}`;
      let problem: unknown;
      try {
        const image = await withBudget(deps.budgetMs, (budget) =>
          raceAbort(deps.images.lookup(imageRef, budget), signal),
        );
        if (image?.repoDigests.includes(expected)) return { allowed: true };
        problem = Object.assign(
          new Error(`containerd pulled ${image?.repoDigests.join(', ') || imageRef}, not ${expected}`),
          { code: 'CG_ERR_PULLED_DIGEST_MISMATCH' },
        );
      } catch (err) {
        problem = err;
      }
      // A match confirms the decision already recorded; anything else gets its own record.
      const settled = decideUndecided(rule, problem, expected);
      const mismatch = errorCode(problem) === 'CG_ERR_PULLED_DIGEST_MISMATCH';
      const outcome: AdmissionOutcome =
        mismatch && !settled.dryRun
          ? {
              allowed: false,
              kind: 'denied',
              reason: `${(problem as Error).message}: the registry changed the image`,
            }
          : settled.outcome;
      const evaluation: Evaluation = {
        outcome,
        reason: mismatch ? 'PULL_DIGEST_MISMATCH' : settled.reason,
        verdict: remembered.verdict,
        identity,
        cacheHit: false,
        errorCode: errorCode(problem),
        wouldBe: settled.dryRun ? 'deny' : undefined,
        policyRevision: policy.revision,
      };
      record('PullImage', facts.image, facts.pod, undefined, started, evaluation, [identity.digest]);
      return outcome;
    },

    admitCreate: (facts, signal) => checkContainer('CreateContainer', facts, signal),
    revalidate: (facts, signal) => checkContainer('Revalidation', facts, signal),
  };

  /** CreateContainer (and re-validation of running containers): every image of the container must pass. */
  async function checkContainer(
    method: 'CreateContainer' | 'Revalidation',
    facts: CreateFacts,
    signal: AbortSignal,
  ): Promise<AdmissionOutcome> {
    const started = deps.clock();
    const policy = deps.policy();
    const namespace = facts.pod.namespace || undefined;
    const rule = selectRule(policy, namespace);
    let last: Evaluation | undefined;
    const digests: string[] = [];
    for (const image of [facts.image, ...facts.volumeImages]) {
      last = await evaluate(policy, rule, undefined, () =>
        createVerdict(policy, image, facts.userSpecifiedImage, namespace, signal, digests),
      );
      if (!last.outcome.allowed) break;
    }
    const evaluation =
      method === 'CreateContainer'
        ? withBreakglass(last!, facts.pod, last!.identity?.name, last!.identity?.digest)
        : last!;
    record(method, facts.image, facts.pod, facts.containerName, started, evaluation, digests);
    return evaluation.outcome;
  }

  /**
   * CreateContainer's image: containerd's repo digests for the image id, each evaluated; the first allow
   * wins. An image with no registry digest is judged under its image id (only a digest pin or a rule that
   * needs no attestation can admit it).
   */
  async function createVerdict(
    policy: CompiledPolicy,
    image: string,
    userSpecified: string,
    namespace: string | undefined,
    signal: AbortSignal,
    digests: string[],
  ): Promise<{ verdict: Verdict; cacheHit: boolean; identity?: ImageIdentity }> {
    const facts = await withBudget(deps.budgetMs, (budget) =>
      raceAbort(deps.images.lookup(image, budget), signal),
    );
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
    let result:
      { verdict: Verdict; cacheHit: boolean; identity?: ImageIdentity; platformDigest?: string } | undefined;
    for (const identity of identities) {
      digests.push(identity.digest);
      result = { ...(await verdictFor(policy, identity, namespace, undefined, signal, facts.id)), identity };
      if (result.platformDigest) digests.push(result.platformDigest);
      if (result.verdict.decision === 'allow' && result.verdict.wouldBe === 'allow') break;
    }
    return result!;
  }
}

function fromVerdict(verdict: Verdict, identity: ImageIdentity | undefined, cacheHit: boolean): Evaluation {
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

function badReference(policy: CompiledPolicy, err: unknown): Evaluation {
  const why = (err as { reason?: string }).reason ?? 'invalid';
  return {
    outcome: { allowed: false, kind: 'bad-request', reason: `invalid image reference (${why})` },
    reason: 'INVALID_REFERENCE',
    verdict: undefined,
    identity: undefined,
    cacheHit: false,
    errorCode: errorCode(err),
    wouldBe: undefined,
    policyRevision: policy.revision,
  };
}

/** Verdict cache key: what a verdict depends on (policy revision, rule, repository name, digest). */
export function cacheKey(policy: CompiledPolicy, rule: CompiledRule, identity: ImageIdentity): string {
  return `${policy.revision}|${rule.kind}:${rule.key ?? ''}|${identity.name}|${identity.digest}`;
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

/** Runs `work` with an AbortSignal that fires after `ms`; a timeout rejects with CG_ERR_TIMEOUT. */
async function withBudget<T>(ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(Object.assign(new Error(`no answer within ${ms} ms`), { code: 'CG_ERR_TIMEOUT' }));
    }, ms);
  });
  try {
    return await Promise.race([work(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Rejects with CG_ERR_CANCELLED when `signal` aborts first (the client went away). */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(cancelled());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function cancelled(): Error {
  return Object.assign(new Error('the call was cancelled'), { code: 'CG_ERR_CANCELLED' });
}
