/**
 * FIFOs and devices at every path criguard reads (policy, attestor files, config, state files, CA files,
 * audit log) against the real daemon: none may hang start-up, wedge a reload or keep SIGTERM from stopping
 * the daemon. Each used to block a thread (or the event loop) forever on open().
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { criguardCommand, startCriguard } from '../helpers/criguard.js';
import { freePort, spawnDaemon, waitFor } from '../helpers/daemon.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-cri-upstream.js';

const POLICY = JSON.stringify({
  defaultAdmissionRule: { evaluationMode: 'ALWAYS_DENY', enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG' },
});
const work = mkdtempSync(join(tmpdir(), 'cg-special-'));
let upstream: FakeUpstream;

test.before(async () => {
  upstream = await startFakeUpstream();
  upstream.unary.set('/runtime.v1.RuntimeService/Version', () => ({
    version: '0.1.0',
    runtime_name: 'fake',
    runtime_version: '1',
    runtime_api_version: 'v1',
  }));
});
test.after.always(async () => {
  await upstream?.stop();
  rmSync(work, { recursive: true, force: true });
});

function fifo(path: string): string {
  execFileSync('mkfifo', [path]);
  return path;
}

/** Runs `criguard serve ARGS` expecting it to exit by itself; fails the test if it is still running after 30 s. */
async function runToExit(args: string[]): Promise<{ code: number | string; log: string }> {
  const dir = mkdtempSync(join(work, 'run-'));
  const logFile = join(dir, 'criguard.log');
  const { command, prefix } = criguardCommand();
  const port = await freePort();
  const daemon = spawnDaemon(
    command,
    [
      ...prefix,
      'serve',
      '--listen',
      join(dir, 'criguard.sock'),
      '--upstream',
      upstream.socket,
      '--metrics-address',
      `127.0.0.1:${port}`,
      ...args,
    ],
    { logFile },
  );
  const timer = setTimeout(() => void daemon.kill(), 30_000);
  const code = await daemon.exited;
  clearTimeout(timer);
  return { code, log: readFileSync(logFile, 'utf8') };
}

test('a FIFO or a device as the policy refuses start-up (exit 2) instead of hanging', async (t) => {
  for (const policy of [fifo(join(work, 'policy-fifo.yaml')), '/dev/zero']) {
    const { code, log } = await runToExit(['--policy', policy, '--state-dir', join(work, 'state-a')]);
    t.is(code, 2, log);
    t.regex(log, /not a regular file/);
  }
});

test('a FIFO as the config file is a config error (exit 2) instead of a hang', async (t) => {
  const { code, log } = await runToExit(['--config', fifo(join(work, 'config-fifo.yaml'))]);
  t.is(code, 2, log);
  t.regex(log, /cannot read config file .*not a regular file \(a FIFO\)/);
});

test('FIFOs as state files, CA file and audit log: the daemon starts, logs them, and stops on SIGTERM', async (t) => {
  const dir = mkdtempSync(join(work, 'state-files-'));
  const state = join(dir, 'state');
  mkdirSync(state, { mode: 0o700 });
  fifo(join(state, 'verdicts.json'));
  fifo(join(state, 'platforms.json'));
  const policy = join(dir, 'policy.json');
  writeFileSync(policy, POLICY);
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ registryCaFiles: [fifo(join(dir, 'ca.pem'))] }));
  const criguard = await startCriguard({
    upstream: upstream.socket,
    extraArgs: [
      '--policy',
      policy,
      '--state-dir',
      state,
      '--audit-log',
      fifo(join(dir, 'audit.log')),
      '--config',
      config,
    ],
  });
  t.teardown(() => criguard.dispose());
  await criguard.stop(30_000);
  t.is(await criguard.daemon.exited, 0, 'stopped by SIGTERM, not killed');
  const log = readFileSync(criguard.logFile, 'utf8');
  t.regex(log, /persisted verdicts discarded/);
  t.regex(log, /registry CA file unreadable/);
  t.regex(log, /audit\.log is not a regular file/);
});

test('an attestor file replaced by a FIFO while running: the reload fails loudly and SIGTERM still stops the daemon', async (t) => {
  const dir = mkdtempSync(join(work, 'reload-'));
  const policy = join(dir, 'policy.json');
  writeFileSync(policy, POLICY);
  const attestors = join(dir, 'attestors');
  mkdirSync(attestors);
  const criguard = await startCriguard({
    upstream: upstream.socket,
    extraArgs: ['--policy', policy, '--attestors-dir', attestors, '--state-dir', join(dir, 'state')],
  });
  t.teardown(() => criguard.dispose());
  fifo(join(attestors, 'ci.yaml'));
  await waitFor(
    'the failed reload logged',
    async () => /policy reload failed/.test(readFileSync(criguard.logFile, 'utf8')),
    {
      daemon: criguard.daemon,
    },
  );
  process.kill(criguard.daemon.pid, 'SIGHUP'); // the forced reload must not wedge either
  await criguard.stop(30_000);
  t.is(await criguard.daemon.exited, 0, 'stopped by SIGTERM, not killed');
  t.regex(readFileSync(criguard.logFile, 'utf8'), /ci\.yaml is not a regular file \(a FIFO\)/);
});

test('a breakglass file written in place is never honoured half-written (no broader scope from a prefix)', async (t) => {
  const dir = mkdtempSync(join(work, 'breakglass-'));
  const policy = join(dir, 'policy.json');
  writeFileSync(policy, POLICY);
  const file = join(dir, 'bg', 'breakglass.yaml');
  mkdirSync(join(dir, 'bg'), { mode: 0o700 });
  const criguard = await startCriguard({
    upstream: upstream.socket,
    extraArgs: ['--policy', policy, '--state-dir', join(dir, 'state'), '--breakglass-file', file],
  });
  t.teardown(() => criguard.dispose());
  const status = async () =>
    (
      (await (await fetch(`${criguard.metricsUrl}/status`)).json()) as {
        breakglass: { state: string; problem?: { code: string }; scope?: Record<string, unknown> };
      }
    ).breakglass;
  const whole = [
    'reason: INC-7 registry outage',
    `expiresAt: ${new Date(Date.now() + 3_600_000).toISOString()}`,
    'scope:',
    '  namespaces: [payments]',
    '  images: ["registry.example/acme/**"]',
    'end: true',
    '',
  ].join('\n');
  // An editor or `cat >` writing in place: the first part lands, the rest a moment later.
  writeFileSync(file, whole.slice(0, whole.indexOf('  images:')), { mode: 0o600 });
  await waitFor('the half-written file read', async () => (await status()).state !== 'absent', {
    daemon: criguard.daemon,
  });
  const half = await status();
  t.is(half.state, 'invalid', JSON.stringify(half));
  t.is(half.problem?.code, 'CG_ERR_BREAKGLASS_INCOMPLETE');
  writeFileSync(file, whole);
  await waitFor('the complete file active', async () => (await status()).state === 'active', {
    daemon: criguard.daemon,
  });
  t.deepEqual((await status()).scope, { namespaces: ['payments'], images: ['registry.example/acme/**'] });
});

test('a policy file others can write refuses start-up (exit 2): whoever can write it could switch enforcement off', async (t) => {
  const dir = mkdtempSync(join(work, 'writable-'));
  const policy = join(dir, 'policy.json');
  writeFileSync(policy, POLICY);
  chmodSync(policy, 0o666);
  const { code, log } = await runToExit(['--policy', policy, '--state-dir', join(dir, 'state')]);
  t.is(code, 2, log);
  t.regex(log, /policy\.json: .*unsafe: .*mode 0666/);
});
