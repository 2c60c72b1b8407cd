/**
 * The simulator drives the daemon's admission code with two policies over one memoised set of ports.
 * Ports here are in-memory; the e2e test (test/e2e/policy-simulate.test.ts) runs the real sources.
 */
import test from 'ava';
import type { ImageFacts } from '../../src/admission/ports.js';
import type { RunningContainer } from '../../src/admission/revalidation.js';
import { createSimulator, type SimulationPorts } from '../../src/simulate/simulator.js';
import type { AttestationRecord } from '../../src/verify/attestation.js';
import { policyFrom } from '../policy/policy-fixtures.js';
import { attestorDoc, digestOf, makeKey, payloadFor, rule, signWith } from '../verify/fixtures.js';

const key = makeKey('ECDSA_P256_SHA256');
const SIGNED_NAME = 'registry.example/team/signed';
const LEGACY_NAME = 'registry.example/team/legacy';
const SIGNED = digestOf('signed');
const LEGACY = digestOf('legacy');
const SIGNED_ID = digestOf('signed-config');
const LEGACY_ID = digestOf('legacy-config');

const policy = (allowlist: string[]) =>
  policyFrom({
    defaultAdmissionRule: rule('REQUIRE_ATTESTATION', ['ci']),
    admissionWhitelistPatterns: allowlist.map((namePattern) => ({ namePattern })),
    attestors: [attestorDoc('ci', [{ id: 'k1', key }])],
  });

function ports() {
  const asked = { evidence: [] as string[], images: [] as string[], resolves: [] as string[] };
  const images = new Map<string, ImageFacts>([
    [SIGNED_ID, { id: SIGNED_ID, repoDigests: [`${SIGNED_NAME}@${SIGNED}`], repoTags: [] }],
    [LEGACY_ID, { id: LEGACY_ID, repoDigests: [`${LEGACY_NAME}@${LEGACY}`], repoTags: [] }],
  ]);
  const payload = payloadFor(SIGNED_NAME, SIGNED);
  const records = new Map<string, AttestationRecord[]>([
    [SIGNED, [{ payload, signatures: [{ publicKeyId: 'k1', signature: signWith(key, payload) }] }]],
  ]);
  const p: SimulationPorts = {
    resolver: {
      resolve: async (ref) => {
        asked.resolves.push(ref.canonical);
        return LEGACY;
      },
    },
    evidence: [
      {
        fetch: async (image) => {
          asked.evidence.push(`${image.name}@${image.digest}`);
          return records.get(image.digest) ?? [];
        },
      },
    ],
    images: {
      lookup: async (image) => {
        asked.images.push(image);
        return images.get(image);
      },
    },
    clock: Date.now,
    budgetMs: 5000,
  };
  return { p, asked, images };
}

const container = (image: string, namespace: string): RunningContainer => ({
  id: `id-${image.slice(7, 12)}`,
  name: 'app',
  image,
  namespace,
  podName: 'pod',
  podUid: 'uid',
});

test('running containers: both policies judged with the admission code; each port asked once per image', async (t) => {
  const { p, asked } = ports();
  const sim = createSimulator(p, { current: policy([LEGACY_NAME]), candidate: policy([]) });
  const signal = new AbortController().signal;
  const signed = await sim.running(container(SIGNED_ID, 'a'), signal);
  const legacy = await sim.running(container(LEGACY_ID, 'b'), signal);
  t.like(signed, {
    source: 'running',
    image: `${SIGNED_NAME}@${SIGNED}`,
    current: { outcome: 'allow', reason: 'ATTESTATIONS_SATISFIED' },
    candidate: { outcome: 'allow', reason: 'ATTESTATIONS_SATISFIED' },
    change: 'none',
  });
  t.like(legacy, {
    image: `${LEGACY_NAME}@${LEGACY}`,
    container: { imageId: LEGACY_ID, pod: 'pod', name: 'app' },
    current: { outcome: 'allow', reason: 'ALLOWLISTED', rule: `allowlist ${LEGACY_NAME}` },
    candidate: {
      outcome: 'deny',
      reason: 'ATTESTOR_MISSING',
      rule: 'default',
      missing: ['ci (NO_ATTESTATION)'],
    },
    change: 'allow-to-deny',
  });
  t.deepEqual(asked.images, [SIGNED_ID, LEGACY_ID], 'containerd asked once per image for both policies');
  t.deepEqual(
    asked.evidence,
    [`${SIGNED_NAME}@${SIGNED}`, `${LEGACY_NAME}@${LEGACY}`],
    'evidence fetched once',
  );
});

test('a failing evidence source fails both sides alike (memoised), so it is no policy change', async (t) => {
  const { p } = ports();
  let calls = 0;
  const flaky: SimulationPorts = {
    ...p,
    evidence: [
      {
        fetch: async () => {
          calls += 1;
          if (calls === 1) throw Object.assign(new Error('down'), { code: 'CG_ERR_REGISTRY_UNAVAILABLE' });
          return [];
        },
      },
    ],
  };
  const sim = createSimulator(flaky, { current: policy([]), candidate: policy([]) });
  const entry = await sim.running(container(SIGNED_ID, 'a'), new AbortController().signal);
  t.like(entry, {
    current: { outcome: 'deny', errorCode: 'CG_ERR_REGISTRY_UNAVAILABLE', rule: 'undecided' },
    candidate: { outcome: 'deny', errorCode: 'CG_ERR_REGISTRY_UNAVAILABLE' },
    change: 'none',
  });
  t.is(calls, 1);
});

test('audit replays: a tag is resolved (once); a container image gone from containerd falls back to its pull', async (t) => {
  const { p, asked, images } = ports();
  const sim = createSimulator(p, { current: policy([LEGACY_NAME]), candidate: policy([]) });
  const signal = new AbortController().signal;
  const base = {
    namespace: 'b',
    count: 3,
    lastSeen: '2026-01-01T00:00:00Z',
    recordedOutcome: 'allow' as const,
    recordedReason: 'ALLOWLISTED',
  };
  const byTag = await sim.audit(
    {
      ...base,
      method: 'PullImage',
      replay: { kind: 'pull', image: `${LEGACY_NAME}:v1` },
      display: `${LEGACY_NAME}:v1`,
    },
    signal,
  );
  t.like(byTag, {
    source: 'audit',
    audit: { method: 'PullImage', replayedAs: 'PullImage', count: 3, recordedOutcome: 'allow' },
    current: { outcome: 'allow', reason: 'ALLOWLISTED' },
    candidate: { outcome: 'deny', reason: 'ATTESTOR_MISSING' },
    change: 'allow-to-deny',
  });
  t.deepEqual(
    asked.resolves,
    [`${LEGACY_NAME}:v1`],
    'allowlisted by name needs no digest; the candidate resolves once',
  );

  images.delete(LEGACY_ID);
  const gone = await sim.audit(
    {
      ...base,
      method: 'CreateContainer',
      replay: { kind: 'container', imageId: LEGACY_ID, fallbackPull: `${LEGACY_NAME}@${LEGACY}` },
      display: `${LEGACY_NAME}@${LEGACY}`,
    },
    signal,
  );
  t.like(gone, { audit: { method: 'CreateContainer', replayedAs: 'PullImage' }, change: 'allow-to-deny' });
  const present = await sim.audit(
    {
      ...base,
      method: 'Revalidation',
      replay: { kind: 'container', imageId: SIGNED_ID, fallbackPull: `${SIGNED_NAME}@${SIGNED}` },
      display: `${SIGNED_NAME}@${SIGNED}`,
    },
    signal,
  );
  t.like(present, {
    audit: { replayedAs: 'Revalidation' },
    current: { reason: 'ATTESTATIONS_SATISFIED' },
    change: 'none',
  });
});
