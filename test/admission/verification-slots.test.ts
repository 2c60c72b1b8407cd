import test from 'ava';
import type { PullAdmission, PullFacts } from '../../src/admission/admission.js';
import { createAdmission, type AdmissionDependencies } from '../../src/admission/controller.js';
import type { DecisionRecord } from '../../src/admission/decision-record.js';
import { VerificationSlots } from '../../src/admission/verification-slots.js';
import { toRejection } from '../../src/cri/status.js';
import { VerdictCache } from '../../src/cache/verdict-cache.js';
import type { AttestationRecord } from '../../src/verify/attestation.js';
import { policyFrom } from '../policy/policy-fixtures.js';
import { attestorDoc, digestOf, makeKey, payloadFor, rule, signWith } from '../verify/fixtures.js';

const key = makeKey('ECDSA_P256_SHA256');
const NAME = 'registry.example/team/app';
const policy = policyFrom({
  defaultAdmissionRule: rule('REQUIRE_ATTESTATION', ['builder']),
  kubernetesNamespaceAdmissionRules: {
    lenient: {
      ...rule('REQUIRE_ATTESTATION', ['builder']),
      criguard: { onUndecided: 'ALLOW', onUndecidedRegistries: ['registry.example'] },
    },
  },
  attestors: [attestorDoc('builder', [{ id: 'k1', key }])],
});

function signed(digest: string): AttestationRecord[] {
  const payload = payloadFor(NAME, digest);
  return [{ payload, signatures: [{ publicKeyId: 'k1', signature: signWith(key, payload) }] }];
}

/** A fake evidence source the test steers: each fetch waits until released, and is counted. */
class Evidence {
  readonly fetched: string[] = [];
  running = 0;
  maxRunning = 0;
  /** Digests whose fetch never answers and ignores the abort. */
  readonly hang = new Set<string>();
  /** When set, every fetch waits for release(); else it answers after a timer tick. */
  held = false;
  private readonly waiting: Array<() => void> = [];

  async fetch(digest: string): Promise<AttestationRecord[]> {
    this.fetched.push(digest);
    this.running += 1;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      if (this.hang.has(digest)) await new Promise(() => undefined);
      if (this.held) await new Promise<void>((resolve) => this.waiting.push(resolve));
      else await new Promise((resolve) => setTimeout(resolve, 1));
      return digest.endsWith('0') ? signed(digest) : [];
    } finally {
      this.running -= 1;
    }
  }

  release(): void {
    this.held = false;
    this.waiting.splice(0).forEach((go) => go());
  }
}

function harness(slots: VerificationSlots, budgetMs = 10_000) {
  const evidence = new Evidence();
  const records: DecisionRecord[] = [];
  const cache = new VerdictCache({
    maxEntries: 10_000,
    allowTtlMs: 60_000,
    denyTtlMs: 60_000,
    now: Date.now,
  });
  const deps: AdmissionDependencies = {
    policy: () => policy,
    resolver: { resolve: () => Promise.reject(new Error('digests only')) },
    evidence: [{ fetch: (image) => evidence.fetch(image.digest) }],
    images: { lookup: () => Promise.resolve(undefined) },
    cache,
    sink: { record: (r) => records.push(r) },
    clock: Date.now,
    budgetMs,
    verificationSlots: slots,
  };
  return { evidence, records, cache, ...createAdmission(deps) };
}

const pull = (digest: string, namespace = 'default'): PullFacts => ({
  image: `${NAME}@${digest}`,
  pod: { namespace, name: 'web', uid: 'u', labels: {}, annotations: {} },
  credentials: undefined,
});
const open = () => new AbortController().signal;
const digests = (n: number, tag = 'd') => Array.from({ length: n }, (_, i) => digestOf(`${tag}-${i}`));
const refusal = (out: PullAdmission) => (out.allowed ? undefined : out);
/** Lets queued promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

test('500 concurrent pulls of distinct digests: at most verifyConcurrency verify at once, and every one is decided', async (t) => {
  const slots = new VerificationSlots(8);
  const h = harness(slots);
  const all = digests(500);
  const outcomes = await Promise.all(all.map((d) => h.admitPull(pull(d), open())));
  t.is(h.evidence.maxRunning, 8);
  t.is(h.evidence.fetched.length, 500);
  t.is(h.records.length, 500);
  // Each decided on its evidence (allow when signed, deny ATTESTOR_MISSING), none timed out or was refused.
  t.deepEqual(
    [...new Set(h.records.map((r) => r.reason))].sort(),
    [...new Set(all.map((d) => (d.endsWith('0') ? 'ATTESTATIONS_SATISFIED' : 'ATTESTOR_MISSING')))].sort(),
  );
  t.is(outcomes.filter((o) => o.allowed).length, all.filter((d) => d.endsWith('0')).length);
  t.is(slots.active, 0);
  t.is(slots.waiting, 0);
});

test('waiters are served in the order they asked (FIFO)', async (t) => {
  const slots = new VerificationSlots(1);
  const h = harness(slots);
  h.evidence.held = true;
  const all = digests(12, 'fifo');
  const pending: Array<Promise<PullAdmission>> = [];
  for (const d of all) {
    pending.push(h.admitPull(pull(d), open()));
    await settle();
  }
  t.deepEqual(h.evidence.fetched, [all[0]]);
  t.is(slots.waiting, 11);
  // One at a time: release whatever runs until all ran.
  while (h.evidence.fetched.length < all.length || h.evidence.running > 0) {
    h.evidence.release();
    h.evidence.held = true;
    await settle();
  }
  h.evidence.release();
  await Promise.all(pending);
  t.deepEqual(h.evidence.fetched, all);
  t.is(h.evidence.maxRunning, 1);
});

test('a full queue refuses at once with CG_ERR_VERIFY_BUSY and a retry message, and changes nothing', async (t) => {
  const slots = new VerificationSlots(1, 2);
  const h = harness(slots);
  h.evidence.held = true;
  const [first, second, third, extra] = digests(4, 'busy');
  const pending = [first!, second!, third!].map((d) => h.admitPull(pull(d), open()));
  await settle();
  t.is(slots.active, 1);
  t.is(slots.waiting, 2);
  const refused = refusal(await h.admitPull(pull(extra!), open()));
  // A busy node says so, not "SignatureValidationFailed" (the image may be fine).
  t.is(refused?.kind, 'busy');
  t.regex(refused?.reason ?? '', /verifying too many images \(1 verifying, 2 waiting\): retry later/);
  t.false(toRejection(refused!)?.message.startsWith('SignatureValidationFailed') ?? true);
  const record = h.records.find((r) => r.digests.includes(extra!));
  t.is(record?.errorCode, 'CG_ERR_VERIFY_BUSY');
  t.is(record?.reason, 'UNDECIDED');
  // Nothing changed: the queue, the fetches, the cache.
  t.is(slots.waiting, 2);
  t.is(slots.refused, 1);
  t.deepEqual(h.evidence.fetched, [first]);
  h.evidence.release();
  await Promise.all(pending);
  t.deepEqual(h.evidence.fetched, [first, second, third]);
  t.is(h.cache.size, 3);
});

test('a full queue never turns into an allow, even under onUndecided: ALLOW for the registry', async (t) => {
  const slots = new VerificationSlots(1, 0);
  const h = harness(slots);
  h.evidence.held = true;
  const [first, second] = digests(2, 'lenient');
  const pending = h.admitPull(pull(first!, 'lenient'), open());
  await settle();
  const out = await h.admitPull(pull(second!, 'lenient'), open());
  t.false(out.allowed);
  t.is(h.records.at(-1)?.errorCode, 'CG_ERR_VERIFY_BUSY');
  h.evidence.release();
  await pending;
});

test('a waiter whose budget runs out is denied (fail closed), leaves the queue, and never verifies', async (t) => {
  const slots = new VerificationSlots(1);
  const patient = harness(slots, 10_000);
  const hurried = harness(slots, 100);
  patient.evidence.held = true;
  const [held, late, after] = digests(3, 'budget');
  const holding = patient.admitPull(pull(held!), open());
  await settle();
  const started = Date.now();
  const out = refusal(await hurried.admitPull(pull(late!), open()));
  t.true(Date.now() - started >= 90);
  t.is(out?.kind, 'busy');
  t.regex(out?.reason ?? '', /too many images .*waited \d+ ms for a verification slot: retry later/);
  t.is(hurried.records[0]?.errorCode, 'CG_ERR_VERIFY_BUSY');
  t.is(slots.waiting, 0);
  t.deepEqual(hurried.evidence.fetched, []);
  patient.evidence.release();
  await holding;
  t.true(slots.available);
  t.true((await patient.admitPull(pull(after!.replace(/.$/, '0')), open())).allowed);
});

test('a budget spent mostly waiting, then out while verifying, is CG_ERR_VERIFY_BUSY: a flood never becomes an onUndecided allow', async (t) => {
  const slots = new VerificationSlots(1);
  const patient = harness(slots, 10_000);
  const hurried = harness(slots, 1000);
  patient.evidence.held = true;
  const [held, slow] = digests(2, 'flood');
  const holding = patient.admitPull(pull(held!), open());
  await settle();
  hurried.evidence.hang.add(slow!);
  const deciding = hurried.admitPull(pull(slow!, 'lenient'), open());
  await new Promise((resolve) => setTimeout(resolve, 300));
  patient.evidence.release();
  await holding;
  const out = refusal(await deciding);
  t.deepEqual(hurried.evidence.fetched, [slow], 'it got the slot and verified');
  t.is(out?.kind, 'busy', 'refused as busy, not allowed by the lenient rule');
  t.regex(
    out?.reason ?? '',
    /waited \d+ of its 1000 ms for a verification slot, and the rest did not suffice/,
  );
  t.is(hurried.records[0]?.errorCode, 'CG_ERR_VERIFY_BUSY');
});

test('a verification whose budget runs out frees its slot, even when its source ignores the abort', async (t) => {
  const slots = new VerificationSlots(1);
  const h = harness(slots, 100);
  const [stuck, next] = digests(2, 'stuck');
  h.evidence.hang.add(stuck!);
  const out = await h.admitPull(pull(stuck!), open());
  t.is(h.records[0]?.errorCode, 'CG_ERR_TIMEOUT');
  t.false(out.allowed);
  t.is(slots.active, 0);
  await h.admitPull(pull(next!), open());
  t.deepEqual(h.evidence.fetched, [stuck, next]);
});

test('a cancelled call (the kubelet went away) leaves the queue; its turn passes to the next', async (t) => {
  const slots = new VerificationSlots(1);
  const h = harness(slots);
  h.evidence.held = true;
  const [held, gone, next] = digests(3, 'cancel');
  const holding = h.admitPull(pull(held!), open());
  await settle();
  const client = new AbortController();
  const leaving = h.admitPull(pull(gone!), client.signal);
  const waiting = h.admitPull(pull(next!), open());
  await settle();
  t.is(slots.waiting, 2);
  client.abort();
  t.false((await leaving).allowed);
  t.is(h.records.find((r) => r.digests.includes(gone!))?.errorCode, 'CG_ERR_CANCELLED');
  t.is(slots.waiting, 1);
  h.evidence.release();
  await Promise.all([holding, waiting]);
  t.deepEqual(h.evidence.fetched, [held, next]);
});

test('identical concurrent decisions share one verification and one slot; it leaves the queue only when every caller has gone', async (t) => {
  const slots = new VerificationSlots(1);
  const h = harness(slots);
  h.evidence.held = true;
  const [held, shared] = digests(2, 'shared');
  const holding = h.admitPull(pull(held!), open());
  await settle();
  const clients = [new AbortController(), new AbortController(), new AbortController()];
  const calls = clients.map((c) => h.admitPull(pull(shared!), c.signal));
  await settle();
  t.is(slots.waiting, 1);
  clients[0]!.abort();
  clients[1]!.abort();
  await settle();
  t.is(slots.waiting, 1, 'one caller is still there');
  h.evidence.release();
  const outcomes = await Promise.all([holding, ...calls]);
  t.deepEqual(
    outcomes.map((o) => o.allowed),
    [held!.endsWith('0'), false, false, shared!.endsWith('0')],
  );
  t.deepEqual(h.evidence.fetched, [held, shared]);

  // All callers gone while it waits: it leaves the queue and never verifies.
  h.evidence.held = true;
  const [held2, abandoned] = digests(2, 'abandoned');
  const holding2 = h.admitPull(pull(held2!), open());
  await settle();
  const both = [new AbortController(), new AbortController()];
  const gone = both.map((c) => h.admitPull(pull(abandoned!), c.signal));
  await settle();
  both.forEach((c) => c.abort());
  await Promise.all(gone);
  t.is(slots.waiting, 0);
  h.evidence.release();
  await holding2;
  t.false(h.evidence.fetched.includes(abandoned!));
});

test('VerificationSlots refuses nonsense limits', (t) => {
  t.throws(() => new VerificationSlots(0), { instanceOf: RangeError });
  t.throws(() => new VerificationSlots(1.5), { instanceOf: RangeError });
  t.throws(() => new VerificationSlots(1, -1), { instanceOf: RangeError });
});
