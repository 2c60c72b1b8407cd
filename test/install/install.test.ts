import test from 'ava';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { InstallError, type InstallErrorCode } from '../../src/install/errors.js';
import { criguardServiceUnit, criguardSocketUnit, kubeletDropIn } from '../../src/install/generated/units.js';
import { installCriguard, type InstallOptions } from '../../src/install/install.js';
import { readInstallState } from '../../src/install/install-state.js';
import {
  CRIGUARD_ENDPOINT,
  KUBEADM_FLAGS,
  KUBELET_CONFIG,
  createFakeSystemctl,
  createHost,
  writeBinary,
  writeConfigMap,
} from './host-fixture.js';

const asRoot = process.getuid?.() === 0;

async function setup() {
  const host = await createHost();
  const log: string[] = [];
  const systemctl = createFakeSystemctl(log);
  const options: InstallOptions = {
    hostRoot: host.root,
    binary: host.binary,
    configSource: host.source,
    restartKubelet: true,
    restartCriguard: true,
    kubeletConfig: '/var/lib/kubelet/config.yaml',
    kubeletFlagFiles: ['/var/lib/kubelet/kubeadm-flags.env', '/etc/default/kubelet'],
    version: '0.1.0',
  };
  // At readiness time the kubelet must still be on containerd: record what it was pointed at.
  const kubeletAtReady: string[] = [];
  const deps = {
    systemctl,
    waitReady: async (address: string) => {
      log.push(`ready? ${address}`);
      kubeletAtReady.push(await host.read('/var/lib/kubelet/config.yaml'));
    },
  };
  return { host, log, systemctl, options, deps, kubeletAtReady };
}

async function modeOf(path: string): Promise<{ mode: number; uid: number; gid: number }> {
  const st = await stat(path);
  return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
}

test('first install: files with their modes, criguard ready before the kubelet is pointed at it', async (t) => {
  const { host, log, options, deps, kubeletAtReady } = await setup();
  const report = await installCriguard(options, deps);

  t.is(await readFile(host.file('/usr/local/bin/criguard'), 'utf8'), await readFile(host.binary, 'utf8'));
  t.is(await host.read('/etc/systemd/system/criguard.service'), criguardServiceUnit);
  t.is(await host.read('/etc/systemd/system/criguard.socket'), criguardSocketUnit);
  t.is(await host.read('/etc/systemd/system/kubelet.service.d/10-criguard.conf'), kubeletDropIn);
  const expectedModes: [string, number][] = [
    ['/usr/local/bin/criguard', 0o755],
    ['/etc/systemd/system/criguard.service', 0o644],
    ['/etc/systemd/system/criguard.socket', 0o644],
    ['/etc/systemd/system/kubelet.service.d/10-criguard.conf', 0o644],
    ['/etc/criguard/config.yaml', 0o644],
    ['/etc/criguard/policy.yaml', 0o600],
    ['/var/lib/criguard/install-state.json', 0o600],
  ];
  for (const [file, mode] of expectedModes) {
    const st = await modeOf(host.file(file));
    t.is(st.mode, mode, file);
    if (asRoot) t.deepEqual([st.uid, st.gid], [0, 0], file);
    t.is(report.files[file], 'created', file);
  }
  t.is((await stat(host.file('/etc/criguard'))).mode & 0o777, 0o700);
  t.is(
    await host.read('/etc/criguard/policy.yaml'),
    'defaultAdmissionRule:\n  evaluationMode: ALWAYS_ALLOW\n',
  );

  // The kubelet: both sources point at criguard, originals recorded, other content kept.
  const config = await host.read('/var/lib/kubelet/config.yaml');
  t.regex(config, /^containerRuntimeEndpoint: unix:\/\/\/run\/criguard\/criguard.sock$/m);
  t.regex(config, /^imageServiceEndpoint: unix:\/\/\/run\/criguard\/criguard.sock$/m);
  t.regex(config, /# written by kubeadm\ncgroupDriver: systemd/);
  t.is(
    await host.read('/var/lib/kubelet/kubeadm-flags.env'),
    KUBEADM_FLAGS.replace('unix:///var/run/containerd/containerd.sock', CRIGUARD_ENDPOINT),
  );
  const state = await readInstallState(host.file('/var/lib/criguard/install-state.json'));
  t.deepEqual(
    state?.kubelet.map((r) => [r.file, r.originals]),
    [
      [
        '/var/lib/kubelet/config.yaml',
        {
          containerRuntimeEndpoint: 'unix:///var/run/containerd/containerd.sock',
          imageServiceEndpoint: null,
        },
      ],
      [
        '/var/lib/kubelet/kubeadm-flags.env',
        { 'container-runtime-endpoint': 'unix:///var/run/containerd/containerd.sock' },
      ],
    ],
  );
  t.is(
    await readFile(host.file('/var/lib/criguard/kubelet-backup/var_lib_kubelet_config.yaml'), 'utf8'),
    KUBELET_CONFIG,
  );

  // Order: units loaded, socket and criguard enabled, the socket started before criguard (which serves it),
  // ready, then (and only then) the kubelet restarted.
  t.deepEqual(log, [
    'daemon-reload',
    'enable criguard.socket',
    'enable criguard.service',
    'start criguard.socket',
    'start criguard.service',
    'ready? 127.0.0.1:9798',
    'restart kubelet.service',
  ]);
  t.deepEqual(kubeletAtReady, [KUBELET_CONFIG]);
  t.deepEqual(report.pending, []);
});

test('re-install with nothing new writes nothing and runs no mutating systemctl call', async (t) => {
  const { host, log, options, deps } = await setup();
  await installCriguard(options, deps);
  const before = await stat(host.file('/usr/local/bin/criguard'));
  const configBefore = await stat(host.file('/var/lib/kubelet/config.yaml'));
  log.length = 0;

  const report = await installCriguard(options, deps);
  t.true(
    Object.values(report.files).every((c) => c === 'unchanged'),
    JSON.stringify(report.files),
  );
  t.deepEqual(log, ['ready? 127.0.0.1:9798']);
  t.deepEqual([report.actions, report.pending], [[], []]);
  t.is((await stat(host.file('/usr/local/bin/criguard'))).ino, before.ino);
  t.is((await stat(host.file('/var/lib/kubelet/config.yaml'))).mtimeMs, configBefore.mtimeMs);
});

test('upgrade: a new binary replaces the old one atomically and restarts criguard, not the kubelet', async (t) => {
  const { host, log, options, deps } = await setup();
  await installCriguard(options, deps);
  const oldInode = (await stat(host.file('/usr/local/bin/criguard'))).ino;
  log.length = 0;
  await writeBinary(options.binary, 'v2');

  const report = await installCriguard(options, deps);
  t.is(report.files['/usr/local/bin/criguard'], 'updated');
  t.regex(await host.read('/usr/local/bin/criguard'), /criguard v2/);
  t.not(
    (await stat(host.file('/usr/local/bin/criguard'))).ino,
    oldInode,
    'replaced by rename, not rewritten',
  );
  t.deepEqual(log, ['restart criguard.service', 'ready? 127.0.0.1:9798']);
  t.is(report.files['/var/lib/kubelet/config.yaml'], undefined);

  // --no-restart leaves the restart to the operator.
  await writeBinary(options.binary, 'v3');
  log.length = 0;
  const deferred = await installCriguard({ ...options, restartCriguard: false }, deps);
  t.deepEqual(deferred.pending, ['systemctl restart criguard.service']);
  t.deepEqual(log, ['ready? 127.0.0.1:9798']);
});

test('policy change reloads criguard; a file removed from the ConfigMap is removed from the node', async (t) => {
  const { host, log, options, deps } = await setup();
  await writeConfigMap(host.source, {
    'config.yaml': 'listen: /run/criguard/criguard.sock\n',
    'policy.yaml': 'defaultAdmissionRule: {}\n',
    'team-a.pub': 'key\n',
  });
  await installCriguard(options, deps);
  t.is(await host.read('/etc/criguard/team-a.pub'), 'key\n');
  log.length = 0;

  await writeConfigMap(host.source, {
    'config.yaml': 'listen: /run/criguard/criguard.sock\n',
    'policy.yaml': 'defaultAdmissionRule:\n  evaluationMode: ALWAYS_DENY\n',
  });
  const report = await installCriguard(options, deps);
  t.is(report.files['/etc/criguard/policy.yaml'], 'updated');
  t.is(report.files['/etc/criguard/team-a.pub'], 'removed');
  await t.throwsAsync(stat(host.file('/etc/criguard/team-a.pub')));
  t.deepEqual(log, ['reload criguard.service', 'ready? 127.0.0.1:9798']);
});

test('breakglass.yaml in the ConfigMap is ignored: breakglass stays node-local', async (t) => {
  const { host, options, deps } = await setup();
  await writeFile(host.file('/etc/criguard/breakglass.yaml'), 'local\n').catch(() => undefined);
  await writeConfigMap(host.source, {
    'config.yaml': 'logLevel: info\n',
    'policy.yaml': 'a: 1\n',
    'breakglass.yaml': 'reason: from the cluster\n',
  });
  const report = await installCriguard(options, deps);
  t.is(report.files['/etc/criguard/breakglass.yaml'], undefined);
  t.true(report.warnings.some((w) => w.includes('breakglass.yaml')));
});

test('criguard never ready: the kubelet keeps its own endpoints', async (t) => {
  const { host, log, options, deps } = await setup();
  const notReady = new InstallError('CG_ERR_CRIGUARD_NOT_READY', 'not ready');
  const err = await t.throwsAsync(
    installCriguard(options, {
      ...deps,
      waitReady: async () => {
        throw notReady;
      },
    }),
  );
  t.is((err as InstallError).code, 'CG_ERR_CRIGUARD_NOT_READY');
  t.is(await host.read('/var/lib/kubelet/config.yaml'), KUBELET_CONFIG);
  t.is(await host.read('/var/lib/kubelet/kubeadm-flags.env'), KUBEADM_FLAGS);
  t.false(log.includes('restart kubelet.service'));
});

test('bad input is refused before anything is written', async (t) => {
  const { host, options, deps } = await setup();
  const cases: [Partial<InstallOptions>, InstallErrorCode][] = [
    [{ kubeletConfig: '/nowhere/config.yaml', kubeletFlagFiles: [] }, 'CG_ERR_KUBELET_CONFIG_NOT_FOUND'],
    [{ binary: '/nonexistent/criguard' }, 'CG_ERR_INSTALL_BINARY'],
    [{ hostRoot: '/nonexistent-root' }, 'CG_ERR_INSTALL_HOST_ROOT'],
  ];
  for (const [override, code] of cases) {
    const err = await t.throwsAsync(installCriguard({ ...options, ...override }, deps));
    t.is((err as InstallError).code, code);
  }
  await writeConfigMap(host.source, { 'config.yaml': 'listen: [unterminated\n' });
  const err = await t.throwsAsync(installCriguard(options, deps));
  t.is((err as InstallError).code, 'CG_ERR_INSTALL_CONFIG_SOURCE');
  await t.throwsAsync(stat(host.file('/usr/local/bin/criguard')));
});

test('without systemctl (--host-exec none) files are installed and the systemd steps reported', async (t) => {
  const { options, deps } = await setup();
  const report = await installCriguard(options, { waitReady: deps.waitReady });
  t.deepEqual(report.actions, []);
  t.deepEqual(report.pending, [
    'systemctl daemon-reload',
    'systemctl enable criguard.socket criguard.service && systemctl start criguard.socket && systemctl restart criguard.service',
    'systemctl restart kubelet.service',
  ]);
});

test('a kubelet config reverted by kubeadm is pointed at criguard again, keeping the first originals', async (t) => {
  const { host, log, options, deps } = await setup();
  await installCriguard(options, deps);
  await writeFile(host.file('/var/lib/kubelet/config.yaml'), KUBELET_CONFIG.replace('systemd', 'cgroupfs'));
  log.length = 0;
  const report = await installCriguard(options, deps);
  t.is(report.files['/var/lib/kubelet/config.yaml'], 'updated');
  t.deepEqual(log, ['ready? 127.0.0.1:9798', 'restart kubelet.service']);
  const state = await readInstallState(host.file('/var/lib/criguard/install-state.json'));
  t.deepEqual(state?.kubelet[0]?.originals, {
    containerRuntimeEndpoint: 'unix:///var/run/containerd/containerd.sock',
    imageServiceEndpoint: null,
  });
});

test('upgrade from a criguard without socket activation: socket started, then criguard restarted onto it', async (t) => {
  const { log, systemctl, options, deps } = await setup();
  await installCriguard(options, deps);
  // The node as an older version left it: criguard.service running its own socket, no criguard.socket.
  systemctl.active.delete('criguard.socket');
  systemctl.enabled.delete('criguard.socket');
  log.length = 0;
  await installCriguard(options, deps);
  t.deepEqual(log, [
    'enable criguard.socket',
    'start criguard.socket',
    'restart criguard.service',
    'ready? 127.0.0.1:9798',
  ]);

  // With --no-restart both steps wait together: a socket that no criguard serves would hold every call.
  systemctl.active.delete('criguard.socket');
  log.length = 0;
  const deferred = await installCriguard({ ...options, restartCriguard: false }, deps);
  t.deepEqual(deferred.pending, ['systemctl start criguard.socket && systemctl restart criguard.service']);
  t.deepEqual(log, ['ready? 127.0.0.1:9798']);
});

test('a listen path other than the socket unit holds is refused before anything is written', async (t) => {
  const { host, options, deps } = await setup();
  await writeConfigMap(host.source, { 'config.yaml': 'listen: /run/other/criguard.sock\n' });
  const err = await t.throwsAsync(installCriguard(options, deps));
  t.is((err as InstallError).code, 'CG_ERR_INSTALL_CONFIG_SOURCE');
  t.regex((err as Error).message, /listen must be \/run\/criguard\/criguard\.sock/);
  await t.throwsAsync(stat(host.file('/usr/local/bin/criguard')));
  // The same path as a unix:// URL is the same socket.
  await writeConfigMap(host.source, { 'config.yaml': 'listen: unix:///run/criguard/criguard.sock\n' });
  await t.notThrowsAsync(installCriguard(options, deps));
});
