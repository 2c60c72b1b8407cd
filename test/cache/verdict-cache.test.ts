/** The verdict cache's bookkeeping that persistence and memory rely on. */
import test from 'ava';
import { VerdictCache } from '../../src/cache/verdict-cache.js';
import type { Verdict } from '../../src/policy/verdict.js';

const HOUR = 3_600_000;

function verdict(decision: 'allow' | 'deny', revision = 'sha256:rev'): Verdict {
  return {
    decision,
    wouldBe: decision,
    reason: decision === 'allow' ? 'ATTESTATIONS_SATISFIED' : 'ATTESTOR_MISSING',
    dryRun: false,
    enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
    rule: { kind: 'default', key: undefined },
    satisfied: [],
    missing: [],
    policyRevision: revision,
  };
}

function cache(now: () => number = () => 1_000) {
  return new VerdictCache({ maxEntries: 100, allowTtlMs: HOUR, denyTtlMs: 60_000, now });
}

test('look-ups do not count as changes; set, restore, clear and dropping an expired entry do', (t) => {
  let clock = 1_000;
  const c = cache(() => clock);
  const start = c.changes;
  c.get('missing');
  t.is(c.changes, start);
  c.set('a', verdict('allow'));
  const afterSet = c.changes;
  t.true(afterSet > start);
  t.truthy(c.get('a'));
  t.is(c.changes, afterSet);
  c.set('d', verdict('deny'));
  const afterDeny = c.changes;
  clock += 120_000; // the deny expired
  t.is(c.get('d'), undefined);
  t.true(c.changes > afterDeny);
  const beforeRestore = c.changes;
  c.restore([{ key: 'r', verdict: verdict('allow'), expiresAt: clock + 1000 }]);
  t.true(c.changes > beforeRestore);
  const beforeClear = c.changes;
  c.clear();
  t.true(c.changes > beforeClear);
});

test('equal verdicts under different keys share one object; different ones do not', (t) => {
  const c = cache();
  c.set('a', verdict('allow'));
  c.set('b', verdict('allow'));
  c.set('c', verdict('allow', 'sha256:other'));
  c.restore([{ key: 'r', verdict: verdict('allow'), expiresAt: 2_000 }]);
  t.is(c.get('a'), c.get('b'));
  t.is(c.get('a'), c.get('r'));
  t.not(c.get('a'), c.get('c'));
  t.deepEqual(c.get('c'), verdict('allow', 'sha256:other'));
});
