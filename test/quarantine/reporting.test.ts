import test from 'ava';
import type { DecisionRecord } from '../../src/admission/decision-record.js';
import { startRevalidation } from '../../src/admission/revalidation.js';
import { createMetrics } from '../../src/metrics/metrics.js';

const HIT = {
  kind: 'entry' as const,
  entry: `sha256:${'b'.repeat(64)}`,
  matched: `digest:sha256:${'b'.repeat(64)}`,
  reason: 'bad release',
  ticket: 'INC-1',
  addedBy: undefined,
  expiresAt: undefined,
  fileSha256: `sha256:${'f'.repeat(64)}`,
};

test('re-validation counts and lists running containers whose image is quarantined, apart from other violations', async (t) => {
  const containers = ['good', 'quarantined', 'unsigned'].map((name, i) => ({
    id: `c${i}`,
    name,
    image: `sha256:${String(i).repeat(64)}`,
    namespace: 'default',
    podName: `pod-${name}`,
    podUid: `uid-${i}`,
  }));
  const revalidation = startRevalidation({
    lister: { listRunning: async () => containers },
    revalidate: async (facts) =>
      facts.containerName === 'good'
        ? { allowed: true }
        : facts.containerName === 'quarantined'
          ? { allowed: false, kind: 'denied', reason: 'QUARANTINED: …', quarantine: HIT }
          : { allowed: false, kind: 'denied', reason: 'lacks a valid attestation' },
    intervalMs: 0,
    onResult: () => {},
    onError: (err) => t.fail(err.message),
  });
  t.teardown(() => revalidation.stop());
  const result = await revalidation.runNow();
  t.is(result.checked, 3);
  t.is(result.violations, 2);
  t.is(result.quarantined, 1);
  t.deepEqual(result.quarantinedContainers, [
    {
      id: 'c1',
      name: 'quarantined',
      namespace: 'default',
      podName: 'pod-quarantined',
      image: `sha256:${'1'.repeat(64)}`,
      entry: HIT.entry,
    },
  ]);
});

test('metrics: quarantine refusals are counted by method (not re-validation); entries, invalid file and running gauges', async (t) => {
  let state = { entries: 3, invalid: true };
  const metrics = createMetrics({
    cacheEntries: () => 0,
    cacheHits: () => 0,
    cacheMisses: () => 0,
    verifications: () => 0,
    connections: () => 0,
    breakglass: () => ({ active: false, invalid: false }),
    quarantine: () => state,
  });
  const record = (method: DecisionRecord['method'], reason: string) =>
    ({
      method,
      outcome: 'deny',
      reason,
      pod: { namespace: 'team-a', name: 'web', uid: 'u1' },
      dryRun: false,
      latencyMs: 1,
      errorCode: undefined,
    }) as DecisionRecord;
  metrics.observe(record('PullImage', 'QUARANTINED'));
  metrics.observe(record('CreateContainer', 'QUARANTINED'));
  metrics.observe(record('CreateContainer', 'QUARANTINE_INVALID'));
  metrics.observe(record('Revalidation', 'QUARANTINED'));
  metrics.observe(record('PullImage', 'ATTESTOR_MISSING'));
  metrics.setQuarantinedRunning(2);
  const text = await metrics.registry.metrics();
  t.regex(text, /criguard_quarantine_hits_total\{method="PullImage",reason="QUARANTINED"\} 1/);
  t.regex(text, /criguard_quarantine_hits_total\{method="CreateContainer",reason="QUARANTINED"\} 1/);
  t.regex(text, /criguard_quarantine_hits_total\{method="CreateContainer",reason="QUARANTINE_INVALID"\} 1/);
  t.notRegex(text, /criguard_quarantine_hits_total\{method="Revalidation"/);
  // A quarantine refusal is a denial like any other in the per-namespace count.
  t.regex(text, /criguard_denials_total\{namespace="team-a",method="CreateContainer",dry_run="false"\} 2/);
  t.regex(text, /criguard_quarantine_entries 3/);
  t.regex(text, /criguard_quarantine_file_invalid 1/);
  t.regex(text, /criguard_quarantined_running_containers 2/);
  state = { entries: 0, invalid: false };
  const after = await metrics.registry.metrics();
  t.regex(after, /criguard_quarantine_file_invalid 0/);
  t.regex(after, /criguard_quarantine_entries 0/);
});
