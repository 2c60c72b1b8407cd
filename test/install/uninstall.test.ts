import test from 'ava';
import { stat, writeFile } from 'node:fs/promises';
import type { InstallError } from '../../src/install/errors.js';
import { installCriguard } from '../../src/install/install.js';
import { uninstallCriguard, type UninstallOptions } from '../../src/install/uninstall.js';
import {
  CRIGUARD_ENDPOINT,
  KUBEADM_FLAGS,
  KUBELET_CONFIG,
  createFakeSystemctl,
  createHost,
} from './host-fixture.js';

async function installed() {
  const host = await createHost();
  const log: string[] = [];
  const systemctl = createFakeSystemctl(log);
  const files = {
    kubeletConfig: '/var/lib/kubelet/config.yaml',
    kubeletFlagFiles: ['/var/lib/kubelet/kubeadm-flags.env'],
  };
  await installCriguard(
    {
      ...files,
      hostRoot: host.root,
      binary: host.binary,
      configSource: host.source,
      restartKubelet: true,
      restartCriguard: true,
      version: '0.1.0',
    },
    { systemctl, waitReady: async () => undefined },
  );
  log.length = 0;
  const options: UninstallOptions = { ...files, hostRoot: host.root, purge: false };
  return { host, log, systemctl, options };
}

const gone = (path: string) =>
  stat(path).then(
    () => false,
    () => true,
  );

test('uninstall restores the kubelet byte for byte and restarts it before criguard is stopped', async (t) => {
  const { host, log, systemctl, options } = await installed();
  const report = await uninstallCriguard(options, { systemctl });
  t.is(await host.read('/var/lib/kubelet/config.yaml'), KUBELET_CONFIG);
  t.is(await host.read('/var/lib/kubelet/kubeadm-flags.env'), KUBEADM_FLAGS);
  t.deepEqual(log, [
    'daemon-reload',
    'restart kubelet.service',
    'stop criguard.socket',
    'stop criguard.service',
    'disable criguard.socket',
    'disable criguard.service',
    'daemon-reload',
  ]);
  for (const file of [
    '/usr/local/bin/criguard',
    '/etc/systemd/system/criguard.service',
    '/etc/systemd/system/criguard.socket',
    '/etc/systemd/system/kubelet.service.d/10-criguard.conf',
    '/var/lib/criguard/install-state.json',
    '/var/lib/criguard/kubelet-backup',
  ]) {
    t.true(await gone(host.file(file)), file);
  }
  t.false(await gone(host.file('/etc/criguard/policy.yaml')), 'config kept without --purge');
  t.is(report.files['/usr/local/bin/criguard'], 'removed');

  // Running it again is harmless.
  log.length = 0;
  await uninstallCriguard(options, { systemctl });
  t.deepEqual(log, ['daemon-reload', 'daemon-reload']);
});

test('uninstall --purge removes config and state too', async (t) => {
  const { host, systemctl, options } = await installed();
  await uninstallCriguard({ ...options, purge: true }, { systemctl });
  t.true(await gone(host.file('/etc/criguard')));
  t.true(await gone(host.file('/var/lib/criguard')));
});

test('a kubelet config edited since install gets only its endpoint values back', async (t) => {
  const { host, systemctl, options } = await installed();
  const edited = (await host.read('/var/lib/kubelet/config.yaml')).replace(
    'cgroupDriver: systemd',
    'cgroupDriver: cgroupfs',
  );
  await writeFile(host.file('/var/lib/kubelet/config.yaml'), edited);
  await uninstallCriguard(options, { systemctl });
  const config = await host.read('/var/lib/kubelet/config.yaml');
  t.regex(config, /cgroupDriver: cgroupfs/);
  t.regex(config, /^containerRuntimeEndpoint: unix:\/\/\/var\/run\/containerd\/containerd.sock$/m);
  t.notRegex(config, /imageServiceEndpoint/);
});

test('uninstall refuses, changing nothing, when the kubelet points at criguard with no recorded original', async (t) => {
  const { host, log, systemctl, options } = await installed();
  await writeFile(
    host.file('/var/lib/criguard/install-state.json'),
    JSON.stringify({
      schemaVersion: 1,
      criguardVersion: '0.1.0',
      endpoint: CRIGUARD_ENDPOINT,
      kubelet: [],
      configFiles: [],
    }),
  );
  const err = await t.throwsAsync(uninstallCriguard(options, { systemctl }));
  t.is((err as InstallError).code, 'CG_ERR_KUBELET_ENDPOINT_UNKNOWN');
  t.deepEqual(log, []);
  t.false(await gone(host.file('/usr/local/bin/criguard')));
});

test('without systemctl the unit stays and the steps are listed in a safe order', async (t) => {
  const { host, options } = await installed();
  const report = await uninstallCriguard(options, {});
  t.deepEqual(report.pending, [
    'systemctl daemon-reload',
    'systemctl restart kubelet.service',
    'systemctl disable --now criguard.socket criguard.service',
    'rm /etc/systemd/system/criguard.socket /etc/systemd/system/criguard.service /usr/local/bin/criguard',
    'systemctl daemon-reload',
  ]);
  t.false(await gone(host.file('/etc/systemd/system/criguard.service')));
  t.false(await gone(host.file('/etc/systemd/system/criguard.socket')));
  t.is(await host.read('/var/lib/kubelet/config.yaml'), KUBELET_CONFIG);
});
