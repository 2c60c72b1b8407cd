import test from 'ava';
import { createAdmission, type AdmissionDependencies } from '../../src/admission/controller.js';
import type { DecisionRecord } from '../../src/admission/decision-record.js';
import type { ImageFacts } from '../../src/admission/ports.js';
import { startRevalidation, type RunningContainer } from '../../src/admission/revalidation.js';
import { VerdictCache } from '../../src/cache/verdict-cache.js';
import type { CompiledPolicy } from '../../src/policy/types.js';
import type { AttestationRecord } from '../../src/verify/attestation.js';
import { policyFrom } from '../policy/policy-fixtures.js';
import { attestorDoc, digestOf, makeKey, payloadFor, rule, signWith } from '../verify/fixtures.js';

const key = makeKey('ECDSA_P256_SHA256');
const NAME = 'registry.example/team/app';
const requireSignature = policyFrom({
  defaultAdmissionRule: rule('REQUIRE_ATTESTATION', ['builder']),
  kubernetesNamespaceAdmissionRules: { open: rule('ALWAYS_ALLOW') },
  attestors: [attestorDoc('builder', [{ id: 'k1', key }])],
});
const denyAll = policyFrom({ defaultAdmissionRule: rule('ALWAYS_DENY') });

/** Ten images, the even ones signed; each image id `config-i` has registry digest `manifest-i`. */
const IMAGES = Array.from({ length: 10 }, (_, i) => ({
  id: digestOf(`config-${i}`),
  digest: digestOf(`manifest-${i}`),
  signed: i % 2 === 0,
}));

function attestation(digest: string): AttestationRecord[] {
  const payload = payloadFor(NAME, digest);
  return [{ payload, signatures: [{ publicKeyId: 'k1', signature: signWith(key, payload) }] }];
}

function node(containers: RunningContainer[]) {
  let policy: CompiledPolicy = requireSignature;
  const lookups: string[] = [];
  const fetches: string[] = [];
  const records: DecisionRecord[] = [];
  const facts = new Map<string, ImageFacts>(
    IMAGES.map((im) => [im.id, { id: im.id, repoDigests: [`${NAME}@${im.digest}`], repoTags: [] }]),
  );
  const deps: AdmissionDependencies = {
    policy: () => policy,
    resolver: { resolve: () => Promise.reject(new Error('no tags here')) },
    evidence: [
      {
        fetch: async (image) => {
          fetches.push(image.digest);
          return IMAGES.find((im) => im.digest === image.digest)?.signed ? attestation(image.digest) : [];
        },
      },
    ],
    images: {
      lookup: async (image) => {
        lookups.push(image);
        await new Promise((resolve) => setImmediate(resolve));
        return facts.get(image);
      },
    },
    cache: new VerdictCache({ maxEntries: 1000, allowTtlMs: 60_000, denyTtlMs: 60_000, now: Date.now }),
    sink: { record: (r) => records.push(r) },
    clock: Date.now,
    budgetMs: 10_000,
  };
  const admission = createAdmission(deps);
  const revalidation = startRevalidation({
    lister: { listRunning: async () => containers },
    revalidate: (f, signal, sweep) => admission.revalidate(f, signal, sweep),
    intervalMs: 0,
    onResult: () => {},
    onError: () => {},
  });
  return { lookups, fetches, records, revalidation, setPolicy: (p: CompiledPolicy) => (policy = p) };
}

function containers(n: number, namespaces: readonly string[]): RunningContainer[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `c${i}`,
    name: `app-${i}`,
    image: IMAGES[i % IMAGES.length]!.id,
    namespace: namespaces[i % namespaces.length]!,
    podName: `pod-${i}`,
    podUid: `uid-${i}`,
  }));
}

test('a sweep judges each distinct image once per namespace, and audits every container with its own verdict', async (t) => {
  // 1,000 containers, 10 images, 3 namespaces: 30 distinct (image, namespace) judgements.
  const running = containers(1000, ['default', 'team-b', 'open']);
  const n = node(running);
  t.teardown(() => n.revalidation.stop());
  await n.revalidation.runNow(); // after the start-up sweep
  n.lookups.length = 0;
  n.records.length = 0;
  const result = await n.revalidation.runNow();
  t.is(result.checked, 1000);
  t.is(new Set(n.lookups).size, 10);
  t.is(n.lookups.length, 30, 'one look-up per image and namespace, not per container');
  t.is(n.records.length, 1000, 'every container is audited');
  t.deepEqual(
    n.records.map((r) => r.container),
    running.map((c) => c.name),
  );
  // Each container's record carries its image's verdict under its own namespace's rule.
  for (const [i, r] of n.records.entries()) {
    const c = running[i]!;
    const im = IMAGES.find((x) => x.id === c.image)!;
    t.is(r.pod.namespace, c.namespace);
    t.is(r.outcome, c.namespace === 'open' || im.signed ? 'allow' : 'deny', `container ${c.name}`);
  }
  // Unsigned images in the two REQUIRE_ATTESTATION namespaces: 5 of 10 images, 2 of 3 namespaces.
  const expected = running.filter(
    (c) => c.namespace !== 'open' && !IMAGES.find((x) => x.id === c.image)!.signed,
  ).length;
  t.is(result.violations, expected);
});

test('a new sweep judges afresh: a policy change is seen by every container', async (t) => {
  const n = node(containers(40, ['default']));
  t.teardown(() => n.revalidation.stop());
  const first = await n.revalidation.runNow();
  t.is(first.violations, 20);
  n.setPolicy(denyAll);
  const second = await n.revalidation.runNow();
  t.is(second.violations, 40);
});

test('runNow while a sweep runs starts a fresh sweep after it (a change mid-sweep is seen in full)', async (t) => {
  const n = node(containers(200, ['default']));
  t.teardown(() => n.revalidation.stop());
  await n.revalidation.runNow(); // after the start-up sweep
  const running = n.revalidation.runNow();
  n.setPolicy(denyAll); // changes while the sweep runs
  const again = n.revalidation.runNow();
  const alsoAgain = n.revalidation.runNow();
  t.is(again, alsoAgain, 'calls while a sweep waits share it');
  t.not(running, again);
  await running;
  t.is((await again).violations, 200);
});
