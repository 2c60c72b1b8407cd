import test from 'ava';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readAuditLog, type AuditedDecision } from '../../src/audit/audit-reader.js';
import { createAuditLog } from '../../src/audit/audit-log.js';
import type { DecisionRecord } from '../../src/admission/decision-record.js';

function dir(t: { teardown: (fn: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'criguard-audit-read-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function decision(time: string, image = 'r.example/app:1'): DecisionRecord {
  return {
    schema: 1,
    time,
    method: 'PullImage',
    image,
    imageName: 'r.example/app',
    digests: [`sha256:${'1'.repeat(64)}`],
    pod: { namespace: 'ns', name: 'p', uid: 'u' },
    container: undefined,
    outcome: 'allow',
    reason: 'ALLOWLISTED',
    message: undefined,
    verdict: undefined,
    dryRun: false,
    wouldBe: undefined,
    errorCode: undefined,
    breakglass: undefined,
    cacheHit: false,
    latencyMs: 1,
    policyRevision: 'sha256:x',
  };
}

function read(path: string, over: Partial<Parameters<typeof readAuditLog>[0]> = {}) {
  const records: AuditedDecision[] = [];
  const stats = readAuditLog({ path, sinceMs: undefined, onRecord: (r) => records.push(r), ...over });
  return { records, stats };
}

test('reads what the daemon writes: decisions kept, events counted apart', (t) => {
  const path = join(dir(t), 'audit.log');
  const log = createAuditLog({ path, node: 'n1', onError: (e) => t.fail(e.message) });
  log.record(decision('2026-01-01T00:00:00.000Z'));
  log.event('breakglass', { state: 'active' });
  log.record(decision('2026-01-01T00:01:00.000Z', 'r.example/app:2'));
  log.close();
  const { records, stats } = read(path);
  t.deepEqual(
    records.map((r) => r.image),
    ['r.example/app:1', 'r.example/app:2'],
  );
  t.like(stats, { decisions: 2, events: 1, malformed: 0, oversized: 0, beforeSince: 0, headSkipped: false });
});

test('malformed lines are counted, never fatal: not JSON, wrong schema, wrong types, bad time', (t) => {
  const path = join(dir(t), 'audit.log');
  const good = JSON.stringify(decision('2026-01-01T00:00:00.000Z'));
  writeFileSync(
    path,
    [
      'not json',
      good,
      JSON.stringify({ ...decision('2026-01-01T00:00:00.000Z'), schema: 2 }),
      JSON.stringify({ ...decision('2026-01-01T00:00:00.000Z'), digests: 'sha256:1' }),
      JSON.stringify({ ...decision('yesterday') }),
      JSON.stringify({ ...decision('2026-01-01T00:00:00.000Z'), pod: null }),
      '[1,2,3]',
      '',
      good,
      '',
    ].join('\n'),
  );
  const { records, stats } = read(path);
  t.is(records.length, 2);
  t.like(stats, { decisions: 2, malformed: 6 });
});

test('--since: older records are counted and skipped', (t) => {
  const path = join(dir(t), 'audit.log');
  writeFileSync(
    path,
    ['2026-01-01T00:00:00.000Z', '2026-01-02T00:00:00.000Z', '2026-01-03T00:00:00.000Z']
      .map((time) => JSON.stringify(decision(time)))
      .join('\n') + '\n',
  );
  const { records, stats } = read(path, { sinceMs: Date.parse('2026-01-02T00:00:00.000Z') });
  t.is(records.length, 2);
  t.like(stats, { beforeSince: 1, decisions: 2 });
});

test('bounded: only the last maxBytes are read (the cut first line dropped), long lines skipped unparsed', (t) => {
  const path = join(dir(t), 'audit.log');
  const line = `${JSON.stringify(decision('2026-01-01T00:00:00.000Z'))}\n`;
  writeFileSync(path, line.repeat(100));
  const tail = read(path, { maxBytes: line.length * 10 + 5 });
  t.true(tail.stats.headSkipped);
  t.is(tail.stats.bytesRead, line.length * 10 + 5);
  t.is(tail.records.length, 10, 'the partial line at the cut is not counted as malformed');
  t.is(tail.stats.malformed, 0);

  const huge = JSON.stringify({ ...decision('2026-01-01T00:00:00.000Z'), message: 'x'.repeat(5000) });
  appendFileSync(path, `${huge}\n${line}`);
  const bounded = read(path, { maxLineBytes: 2048 });
  t.is(bounded.stats.oversized, 1);
  t.is(bounded.records.length, 101);
});

test('a torn last line (a record being written) is not read; a FIFO is refused without blocking', (t) => {
  const d = dir(t);
  const path = join(d, 'audit.log');
  const line = JSON.stringify(decision('2026-01-01T00:00:00.000Z'));
  writeFileSync(path, `${line}\n${line.slice(0, 40)}`);
  const { records, stats } = read(path);
  t.is(records.length, 1);
  t.is(stats.malformed, 0);
  const fifo = join(d, 'fifo');
  execFileSync('mkfifo', [fifo]);
  t.throws(() => read(fifo), { message: /not a regular file/ });
  t.throws(() => read(join(d, 'absent')), { message: /ENOENT/ });
});
