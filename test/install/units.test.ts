import test from 'ava';
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { criguardServiceUnit, criguardSocketUnit, kubeletDropIn } from '../../src/install/generated/units.js';

const run = promisify(execFile);

test('the units embedded in the binary are the ones in systemd/ (no drift)', async (t) => {
  t.is(criguardServiceUnit, await readFile('systemd/criguard.service', 'utf8'));
  t.is(criguardSocketUnit, await readFile('systemd/criguard.socket', 'utf8'));
  t.is(kubeletDropIn, await readFile('systemd/kubelet.service.d/10-criguard.conf', 'utf8'));
});

test('the unit states the ordering, restarts and directories the kubelet depends on', (t) => {
  for (const line of [
    'Requires=criguard.socket',
    'After=criguard.socket containerd.service network-online.target',
    'Before=kubelet.service',
    'Type=notify',
    'NotifyAccess=all',
    'Restart=always',
    'StartLimitIntervalSec=0',
    'StateDirectory=criguard',
    'ConfigurationDirectory=criguard',
    'ExecStart=/usr/local/bin/criguard serve --config /etc/criguard/config.yaml',
    'ExecReload=/bin/kill -HUP $MAINPID',
    'MemoryDenyWriteExecute=no',
    'ProtectSystem=strict',
  ]) {
    t.true(criguardServiceUnit.split('\n').includes(line), line);
  }
  // systemd removes a service's RuntimeDirectory= when it stops: it would delete the socket criguard.socket
  // holds across restarts.
  t.false(/^RuntimeDirectory=/m.test(criguardServiceUnit));
  for (const line of [
    'ListenStream=/run/criguard/criguard.sock',
    'FileDescriptorName=criguard',
    'Service=criguard.service',
    'SocketMode=0660',
    'DirectoryMode=0750',
    'Before=kubelet.service',
    'WantedBy=sockets.target',
  ]) {
    t.true(criguardSocketUnit.split('\n').includes(line), line);
  }
  t.regex(kubeletDropIn, /^After=criguard\.socket criguard\.service$/m);
});

/**
 * `systemd-analyze verify` loads the units as systemd would, inside a temporary root: the system's own unit
 * directory (for sysinit.target and friends), stand-in containerd and kubelet units, our unit and drop-in
 * under /etc/systemd/system, and an executable at ExecStart's path. Without that executable verify fails, so
 * the test also proves it checks ExecStart.
 */
test('systemd-analyze verify accepts criguard.socket, criguard.service and the kubelet drop-in', async (t) => {
  // scripts/setup.sh installs Debian's systemd package: a missing systemd-analyze fails here, not skips.
  const root = await mkdtemp(join(tmpdir(), 'criguard-units-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await cp('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true });
  const etc = join(root, 'etc/systemd/system');
  await mkdir(join(etc, 'kubelet.service.d'), { recursive: true });
  await writeFile(join(etc, 'containerd.service'), '[Service]\nExecStart=/bin/true\n');
  await writeFile(join(etc, 'kubelet.service'), '[Service]\nExecStart=/bin/true\n');
  await writeFile(join(etc, 'criguard.service'), criguardServiceUnit);
  await writeFile(join(etc, 'criguard.socket'), criguardSocketUnit);
  await writeFile(join(etc, 'kubelet.service.d/10-criguard.conf'), kubeletDropIn);
  const verify = () =>
    run('systemd-analyze', [
      'verify',
      `--root=${root}`,
      'criguard.socket',
      'criguard.service',
      'kubelet.service',
    ]).then(
      (r) => ({ ok: true, out: r.stderr + r.stdout }),
      (e: { stderr?: string }) => ({ ok: false, out: e.stderr ?? '' }),
    );

  const missing = await verify();
  t.false(missing.ok);
  t.regex(missing.out, /\/usr\/local\/bin\/criguard is not executable/);

  // ExecReload's /bin/kill and the stand-ins' /bin/true must exist in the root as well.
  await mkdir(join(root, 'bin'), { recursive: true });
  for (const tool of ['kill', 'true']) await cp(`/bin/${tool}`, join(root, 'bin', tool));
  await mkdir(join(root, 'usr/local/bin'), { recursive: true });
  await writeFile(join(root, 'usr/local/bin/criguard'), '#!/bin/sh\n');
  await chmod(join(root, 'usr/local/bin/criguard'), 0o755);
  const ok = await verify();
  t.true(ok.ok, ok.out);
  t.is(ok.out.trim(), '', 'no warnings either');

  // The hardening is real: systemd's own exposure score for the unit stays in the "OK" band or better.
  const security = await run('systemd-analyze', [
    'security',
    '--offline=yes',
    `--root=${root}`,
    '--threshold=50',
    'criguard.service',
  ]).then(
    (r) => ({ ok: true, out: r.stdout }),
    (e: { stdout?: string }) => ({ ok: false, out: e.stdout ?? '' }),
  );
  t.true(security.ok, security.out.split('\n').slice(-3).join('\n'));
});
