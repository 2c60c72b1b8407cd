import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSince, policySimulateCommand } from '../../src/cli/policy-simulate.js';
import { runCli } from '../../src/cli/router.js';

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, [policySimulateCommand], {
    stdout: (s) => void out.push(s),
    stderr: (s) => void err.push(s),
    env: {},
  });
  return { code, out: out.join(''), err: err.join('') };
}

test('--since: durations back from now (minutes to days) or an RFC 3339 time', (t) => {
  const now = Date.parse('2026-03-10T12:00:00Z');
  t.is(parseSince('90m', now), now - 90 * 60_000);
  t.is(parseSince('24h', now), now - 86_400_000);
  t.is(parseSince('7d', now), now - 7 * 86_400_000);
  t.is(parseSince('2026-03-01T00:00:00Z', now), Date.parse('2026-03-01T00:00:00Z'));
  for (const bad of ['', '0m', '-1h', 'yesterday', '2026-02-30T00:00:00Z', '99999d'])
    t.throws(() => parseSince(bad, now), { message: /--since must be/ }, bad);
});

test('usage errors exit 64 before anything is read', async (t) => {
  for (const argv of [
    ['policy', 'simulate'],
    ['policy', 'simulate', '--policy', 'c.yaml', '--output', 'yaml'],
    ['policy', 'simulate', '--policy', 'c.yaml', '--since', 'last week'],
    ['policy', 'simulate', '--policy', 'c.yaml', '--audit-log', 'a', '--skip-audit'],
    ['policy', 'simulate', '--policy', 'c.yaml', '--max-audit-subjects', '0'],
    ['policy', 'simulate', '--policy', 'c.yaml', '--config', '/nonexistent/config.yaml', '--bogus'],
  ]) {
    const r = await cli(argv);
    t.is(r.code, 64, argv.join(' '));
    t.regex(r.err, /criguard policy simulate: /);
  }
});

test('no current policy: a usage error naming --current-policy', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'criguard-sim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'config.yaml'), 'logLevel: info\n'); // a serve config without a policy
  const r = await cli(['policy', 'simulate', '--policy', 'c.yaml', '--config', join(dir, 'config.yaml')]);
  t.is(r.code, 64);
  t.regex(r.err, /--current-policy/);
});

test('--help lists the options and the exit codes', async (t) => {
  const r = await cli(['policy', 'simulate', '--help']);
  t.is(r.code, 0);
  t.regex(r.out, /--current-policy FILE/);
  t.regex(r.out, /3 it would deny at least one/);
});
