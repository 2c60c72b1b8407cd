import test from 'ava';
import type { DecisionRecord } from '../../src/admission/decision-record.js';
import {
  changeOf,
  entryOf,
  simulatedDecision,
  summarize,
  type SimulatedDecision,
  type SimulationSubject,
} from '../../src/simulate/compare.js';

function decision(outcome: 'allow' | 'deny', reason: string, rule = 'default'): SimulatedDecision {
  return {
    outcome,
    reason,
    rule,
    wouldBe: outcome,
    dryRun: false,
    errorCode: undefined,
    message: undefined,
    missing: [],
  };
}

const running = (image: string, namespace = 'ns'): SimulationSubject => ({
  source: 'running',
  namespace,
  image,
  container: { id: 'c', name: 'app', pod: 'p', imageId: 'sha256:x' },
});
const audited = (image: string, namespace = 'ns'): SimulationSubject => ({
  source: 'audit',
  namespace,
  image,
});

test('changeOf: an outcome flip either way, then a reason or rule change, else none', (t) => {
  t.is(changeOf(decision('allow', 'ALLOWLISTED'), decision('deny', 'ATTESTOR_MISSING')), 'allow-to-deny');
  t.is(changeOf(decision('deny', 'ALWAYS_DENY'), decision('allow', 'ALWAYS_ALLOW')), 'deny-to-allow');
  t.is(changeOf(decision('allow', 'ALLOWLISTED'), decision('allow', 'ATTESTATIONS_SATISFIED')), 'reason');
  t.is(
    changeOf(
      decision('deny', 'ATTESTOR_MISSING', 'default'),
      decision('deny', 'ATTESTOR_MISSING', 'namespace prod'),
    ),
    'reason',
    'same reason, another deciding rule',
  );
  t.is(
    changeOf(
      decision('allow', 'ALLOWLISTED', 'allowlist a/*'),
      decision('allow', 'ALLOWLISTED', 'allowlist a/*'),
    ),
    'none',
  );
});

test('a dry-run candidate admits: no outcome change, but the reason change is reported', (t) => {
  const dry: SimulatedDecision = { ...decision('allow', 'ATTESTOR_MISSING'), wouldBe: 'deny', dryRun: true };
  t.is(changeOf(decision('allow', 'ALLOWLISTED'), dry), 'reason');
  t.is(changeOf(dry, decision('deny', 'ATTESTOR_MISSING')), 'allow-to-deny', 'enforcing a dry run');
});

test('simulatedDecision reads the audit record admission wrote: rule label, missing attestors, undecided', (t) => {
  const base = {
    schema: 1,
    time: '2026-01-01T00:00:00.000Z',
    method: 'PullImage',
    image: 'r/a:1',
    imageName: 'r/a',
    digests: [],
    pod: { namespace: 'ns', name: 'p', uid: '' },
    container: undefined,
    breakglass: undefined,
    cacheHit: false,
    latencyMs: 1,
    policyRevision: 'sha256:1',
  } as const;
  const denied: DecisionRecord = {
    ...base,
    outcome: 'deny',
    reason: 'ATTESTOR_MISSING',
    message: 'r/a lacks …',
    dryRun: false,
    wouldBe: 'deny',
    errorCode: undefined,
    verdict: {
      decision: 'deny',
      wouldBe: 'deny',
      reason: 'ATTESTOR_MISSING',
      dryRun: false,
      enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      rule: { kind: 'namespace', key: 'prod' },
      satisfied: [],
      missing: [{ attestor: 'ci', reason: 'NO_ATTESTATION' }],
      policyRevision: 'sha256:1',
    },
  };
  t.deepEqual(simulatedDecision(denied), {
    outcome: 'deny',
    reason: 'ATTESTOR_MISSING',
    rule: 'namespace prod',
    wouldBe: 'deny',
    dryRun: false,
    errorCode: undefined,
    message: 'r/a lacks …',
    missing: ['ci (NO_ATTESTATION)'],
  });
  const undecided: DecisionRecord = {
    ...base,
    outcome: 'deny',
    reason: 'UNDECIDED',
    message: 'RegistryUnavailable',
    dryRun: false,
    wouldBe: undefined,
    errorCode: 'CG_ERR_REGISTRY_UNAVAILABLE',
    verdict: undefined,
  };
  t.like(simulatedDecision(undecided), {
    rule: 'undecided',
    errorCode: 'CG_ERR_REGISTRY_UNAVAILABLE',
    missing: [],
  });
});

test('summarize counts per source, groups by image, namespace and candidate rule, and counts running denials', (t) => {
  const entries = [
    entryOf(
      running('r/legacy@sha256:1', 'b'),
      decision('allow', 'ALLOWLISTED', 'allowlist r/legacy'),
      decision('deny', 'ATTESTOR_MISSING'),
    ),
    entryOf(
      running('r/signed@sha256:2', 'a'),
      decision('allow', 'ATTESTATIONS_SATISFIED'),
      decision('allow', 'ATTESTATIONS_SATISFIED'),
    ),
    entryOf(
      running('r/old@sha256:3', 'a'),
      decision('deny', 'ATTESTOR_MISSING'),
      decision('deny', 'ATTESTOR_MISSING'),
    ),
    entryOf(
      audited('r/legacy:1', 'b'),
      decision('allow', 'ALLOWLISTED', 'allowlist r/legacy'),
      decision('deny', 'ATTESTOR_MISSING'),
    ),
    entryOf(
      audited('r/rogue@sha256:4', 'a'),
      decision('deny', 'ATTESTOR_MISSING'),
      decision('allow', 'ALLOWLISTED', 'allowlist r/rogue'),
    ),
    entryOf(
      audited('r/signed@sha256:2', 'a'),
      decision('allow', 'ATTESTATIONS_SATISFIED'),
      decision('allow', 'ALWAYS_ALLOW', 'namespace a'),
    ),
  ];
  const s = summarize(entries);
  t.deepEqual(s.running, {
    total: 3,
    allowToDeny: 1,
    denyToAllow: 0,
    reasonChanged: 0,
    unchanged: 2,
    deniedByCandidate: 2,
  });
  t.deepEqual(s.audit, {
    total: 3,
    allowToDeny: 1,
    denyToAllow: 1,
    reasonChanged: 1,
    unchanged: 0,
    deniedByCandidate: 1,
  });
  t.is(s.runningDenied, 2, 'a running container already denied still counts: the candidate denies it');
  t.deepEqual(
    s.byNamespace.map((g) => [g.key, g.total, g.allowToDeny, g.denyToAllow, g.reasonChanged]),
    [
      ['b', 2, 2, 0, 0],
      ['a', 4, 0, 1, 1],
    ],
    'most allow-to-deny first',
  );
  t.deepEqual(
    s.byRule.map((g) => [g.key, g.total, g.allowToDeny]),
    [
      ['default', 4, 2],
      ['allowlist r/rogue', 1, 0],
      ['namespace a', 1, 0],
    ],
  );
  t.like(
    s.byImage.find((g) => g.key === 'r/signed@sha256:2'),
    { total: 2, unchanged: 1, reasonChanged: 1 },
  );
});

test('an empty simulation summarises to zeros', (t) => {
  const s = summarize([]);
  t.is(s.runningDenied, 0);
  t.is(s.running.total + s.audit.total, 0);
  t.deepEqual(s.byImage, []);
});
