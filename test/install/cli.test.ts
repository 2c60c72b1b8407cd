import test from 'ava';
import { createInstallCommand } from '../../src/cli/install.js';
import { createUninstallCommand } from '../../src/cli/uninstall.js';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { runCli } from '../../src/cli/router.js';
import type { HostCommandRunner } from '../../src/install/systemd.js';
import { NSENTER_PREFIX } from '../../src/install/systemd.js';
import { createHost } from './host-fixture.js';

/** Answers like a host where criguard is not installed yet and the kubelet runs; records every call. */
function recordingRunner(calls: string[]): HostCommandRunner {
  const active = new Set(['kubelet.service']);
  return async (argv) => {
    calls.push(argv.join(' '));
    const [, verb, unit] = argv;
    if (verb === 'is-active' || verb === 'is-enabled')
      return { code: active.has(unit ?? '') ? 0 : 3, stdout: '', stderr: '' };
    if ((verb === 'start' || verb === 'restart') && unit) active.add(unit);
    if (verb === 'stop' && unit) active.delete(unit);
    return { code: 0, stdout: '', stderr: '' };
  };
}

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s), env: {} },
  };
}

test('criguard install / uninstall drive systemctl in order and print what changed', async (t) => {
  const host = await createHost();
  const calls: string[] = [];
  const ready: string[] = [];
  const runner = recordingRunner(calls);
  const commands = [
    createInstallCommand({
      runner,
      waitReady: async (address) => void ready.push(address),
      selfExecutable: () => host.binary,
    }),
    createUninstallCommand({ runner }),
  ];
  const c = io();
  const args = ['install', `--host-root=${host.root}`, `--config-source=${host.source}`, '--restart-kubelet'];
  t.is(await runCli(args, commands, c.io), ExitCode.OK, c.err.join(''));
  t.deepEqual(calls, [
    'systemctl daemon-reload',
    'systemctl is-enabled criguard.socket --quiet',
    'systemctl enable criguard.socket',
    'systemctl is-enabled criguard.service --quiet',
    'systemctl enable criguard.service',
    'systemctl is-active criguard.socket --quiet',
    'systemctl is-active criguard.service --quiet',
    'systemctl start criguard.socket',
    'systemctl start criguard.service',
    'systemctl is-active kubelet.service --quiet',
    'systemctl restart kubelet.service',
  ]);
  t.deepEqual(ready, ['127.0.0.1:9798']);
  t.regex(c.out.join(''), /^criguard install: \/usr\/local\/bin\/criguard: created$/m);
  t.regex(c.out.join(''), /^criguard install: ran: systemctl restart kubelet.service$/m);

  const again = io();
  t.is(await runCli([...args, '--json'], commands, again.io), ExitCode.OK);
  t.deepEqual(JSON.parse(again.out.join('')).actions, []);

  calls.length = 0;
  const un = io();
  t.is(
    await runCli(['uninstall', `--host-root=${host.root}`], commands, un.io),
    ExitCode.OK,
    un.err.join(''),
  );
  const mutating = calls.filter((c) => !c.includes('--quiet'));
  t.deepEqual(mutating, [
    'systemctl daemon-reload',
    'systemctl restart kubelet.service',
    'systemctl stop criguard.socket',
    'systemctl stop criguard.service',
    'systemctl daemon-reload',
  ]);
});

test('usage errors exit 64; install failures print their CG_ERR code', async (t) => {
  const commands = [createInstallCommand({ selfExecutable: () => undefined }), createUninstallCommand()];
  for (const args of [
    ['install'],
    ['install', '--host-root=/tmp', '--bogus'],
    ['install', '--host-root=/tmp', '--host-exec=ssh', '--binary=/bin/true'],
    ['install', '--host-root=/tmp'],
    ['install', '--host-root=/tmp', '--binary=/bin/true', '--sync-interval=soon'],
    ['uninstall', '--host-root=/tmp', '--kubelet-config=relative.yaml'],
  ]) {
    const c = io();
    t.is(await runCli(args, commands, c.io), ExitCode.USAGE, args.join(' '));
  }
  const c = io();
  const code = await runCli(
    ['install', '--host-root=/nonexistent', '--binary=/bin/true', '--host-exec=none'],
    commands,
    c.io,
  );
  t.is(code, ExitCode.DENIED_OR_FAILED);
  t.regex(c.err.join(''), /CG_ERR_INSTALL_HOST_ROOT/);
});

test('the DaemonSet path enters PID 1 namespaces with nsenter', (t) => {
  t.deepEqual([...NSENTER_PREFIX], ['nsenter', '-t', '1', '-m', '-u', '-i', '-n', '-p', '--']);
});
