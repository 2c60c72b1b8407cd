import test from 'ava';
import type { DecisionRecord } from '../../src/admission/decision-record.js';
import { createMetrics, MAX_NAMESPACE_LABELS } from '../../src/metrics/metrics.js';

function metrics() {
  const zero = () => 0;
  return createMetrics({
    cacheEntries: zero,
    cacheHits: zero,
    cacheMisses: zero,
    verifications: zero,
    connections: zero,
    breakglass: () => ({ active: false, invalid: false }),
  });
}

function record(over: Partial<DecisionRecord>): DecisionRecord {
  return {
    schema: 1,
    time: '2026-01-01T00:00:00.000Z',
    method: 'PullImage',
    image: 'r/a:1',
    imageName: 'r/a',
    digests: [],
    pod: { namespace: 'payments', name: 'p', uid: '' },
    container: undefined,
    outcome: 'deny',
    reason: 'ATTESTOR_MISSING',
    message: undefined,
    verdict: undefined,
    dryRun: false,
    wouldBe: 'deny',
    errorCode: undefined,
    breakglass: undefined,
    cacheHit: false,
    latencyMs: 2,
    policyRevision: undefined,
    ...over,
  };
}

async function denials(m: ReturnType<typeof metrics>): Promise<Record<string, number>> {
  const metric = (await m.registry.getMetricsAsJSON()).find((x) => x.name === 'criguard_denials_total');
  const out: Record<string, number> = {};
  for (const v of (metric?.values ?? []) as { labels: Record<string, string>; value: number }[])
    out[`${v.labels.namespace}/${v.labels.method}/${v.labels.dry_run}`] = v.value;
  return out;
}

test('criguard_denials_total: denials and dry-run would-be denials by namespace; allows and re-validation not', async (t) => {
  const m = metrics();
  m.observe(record({}));
  m.observe(record({ method: 'CreateContainer' }));
  m.observe(
    record({
      outcome: 'allow',
      dryRun: true,
      wouldBe: 'deny',
      pod: { namespace: 'staging', name: '', uid: '' },
    }),
  );
  m.observe(record({ outcome: 'allow', reason: 'ATTESTATIONS_SATISFIED', wouldBe: 'allow' }));
  m.observe(record({ method: 'Revalidation' }));
  m.observe(record({ pod: { namespace: '', name: '', uid: '' } }));
  m.observe(record({ pod: { namespace: 'Not/A Namespace', name: '', uid: '' } }));
  t.deepEqual(await denials(m), {
    'payments/PullImage/false': 1,
    'payments/CreateContainer/false': 1,
    'staging/PullImage/true': 1,
    '_none/PullImage/false': 1,
    '_invalid/PullImage/false': 1,
  });
});

test('criguard_denials_total: a client cannot grow the namespace label past the cap', async (t) => {
  const m = metrics();
  for (let i = 0; i < MAX_NAMESPACE_LABELS + 50; i++)
    m.observe(record({ pod: { namespace: `ns-${i}`, name: '', uid: '' } }));
  m.observe(record({ pod: { namespace: 'ns-0', name: '', uid: '' } }));
  const counted = await denials(m);
  t.is(Object.keys(counted).length, MAX_NAMESPACE_LABELS + 1);
  t.is(counted['_other/PullImage/false'], 50);
  t.is(counted['ns-0/PullImage/false'], 2, 'a namespace seen before the cap keeps its label');
});
