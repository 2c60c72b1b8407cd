/**
 * The installer image (scripts/image.mjs): built twice from the same inputs (same digest), pushed with
 * skopeo to the test registry, then the DaemonSet's own pod spec (deploy/base/daemonset.yaml: command,
 * privileged, host network, the host's / at /host, the ConfigMap at /etc/criguard-source) run through the
 * real containerd's CRI: install, upgrade, then deploy/uninstall's pod: each leaves the host root as
 * docs/operations.md says.
 *
 * The "host" is simulated, because this machine has no systemd and its real PID 1 must not be touched: a
 * container ("node") whose /etc, /usr/local, /var and /run are the temporary host root, whose PID 1 starts
 * and stops services on request (test/package/simulated-node/init.sh) and whose /usr/bin/systemctl asks it
 * to (simulated-node/systemctl). The installer pod shares that container's PID namespace (CRI `TARGET`) in
 * place of `hostPID: true`, so its `nsenter -t 1` reaches the simulated host exactly as it would reach the
 * node's systemd. containerd's socket is the lab's, mounted at /run/containerd/containerd.sock.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { parse as parseYaml } from 'yaml';
import { decodeCriMessage, encodeCriMessage } from '../../src/cri/proto.js';
import type { ContainerConfig, PodSandboxConfig } from '../helpers/cri-client.js';
import { freePort } from '../helpers/daemon.js';
import { labReady, useLab } from '../helpers/lab.js';
import { packagedBinary } from '../helpers/sea.js';
import { KUBEADM_FLAGS, KUBELET_CONFIG, writeConfigMap } from '../install/host-fixture.js';

const run = promisify(execFile);
const lab = useLab(test);
const work = mkdtempSync(join(tmpdir(), 'cgimg-'));
const host = join(work, 'host');
const sim = join(work, 'sim');
const source = join(work, 'configmap');
const SIM_FILES = resolve('test/package/simulated-node');

interface PodContainer {
  name: string;
  command: string[];
  securityContext?: { privileged?: boolean };
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodSpec {
  hostPID?: boolean;
  hostNetwork?: boolean;
  initContainers: PodContainer[];
  containers: PodContainer[];
  volumes: { name: string; hostPath?: { path: string }; configMap?: object }[];
}
const podSpec = (file: string) =>
  (parseYaml(readFileSync(file, 'utf8')) as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
const installer = podSpec('deploy/base/daemonset.yaml');
const uninstaller = podSpec('deploy/uninstall/daemonset-uninstall.yaml');

let images = { v1: '', v2: '', digest1: '', digest2: '' };
let binaries: { v1: Buffer; v2: Buffer };
let nodeSandbox = { id: '', config: {} as PodSandboxConfig };
let runs = 0;
let nodeContainer = '';
let metricsPort = 0;
let pristine: Map<string, string>;

/** Path → kind, mode and content hash, for everything under the host root. */
function tree(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(host, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(host, path));
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out.set(path, `dir ${mode}`);
        walk(path);
      } else if (st.isFile()) {
        out.set(
          path,
          `file ${mode} ${createHash('sha256')
            .update(readFileSync(join(host, path)))
            .digest('hex')
            .slice(0, 16)}`,
        );
      } else out.set(path, st.isSymbolicLink() ? 'link' : 'other');
    }
  };
  walk('');
  return out;
}

function diff(before: Map<string, string>, after: Map<string, string>) {
  const added = [...after.keys()].filter((p) => !before.has(p));
  const removed = [...before.keys()].filter((p) => !after.has(p));
  const changed = [...after.keys()].filter((p) => before.has(p) && before.get(p) !== after.get(p));
  return { added, removed, changed };
}

/** Paths criguard's daemon itself owns at run time (state, audit log, socket): not the installer's. */
const daemonOwned = (p: string) =>
  /^(var\/lib\/criguard\/(?!install-state\.json|kubelet-backup)|var\/log\/criguard\/|run\/criguard\/)/.test(
    p,
  );

/** Builds the image from `binary` into a fresh layout; returns its directory and digest. */
async function build(binary: string, name: string): Promise<{ dir: string; digest: string }> {
  const dir = join(work, name);
  const { stdout } = await run(
    process.execPath,
    ['scripts/image.mjs', '--binary', binary, '--out', dir, '--tag', name],
    {
      maxBuffer: 1 << 24,
    },
  );
  const digest = /(sha256:[0-9a-f]{64})/.exec(stdout)?.[1];
  if (!digest) throw new Error(`no digest in: ${stdout}`);
  return { dir, digest };
}

async function push(dir: string, tag: string): Promise<string> {
  const ref = `${lab().registry.host}/criguard/installer:${tag}`;
  await run('skopeo', [
    'copy',
    '--quiet',
    '--preserve-digests',
    '--dest-tls-verify=false',
    `oci:${dir}:${tag}`,
    `docker://${ref}`,
  ]);
  return ref;
}

function sandboxConfig(name: string): PodSandboxConfig {
  const uid = randomUUID();
  const logDirectory = join(lab().containerd.dir, 'pods', uid);
  mkdirSync(logDirectory, { recursive: true });
  return {
    metadata: { name, uid, namespace: 'criguard-system', attempt: 0 },
    log_directory: logDirectory,
    linux: {
      security_context: {
        privileged: true,
        namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' },
      },
    },
  } as PodSandboxConfig;
}

/**
 * Runs one container of a DaemonSet pod spec through the CRI: its command, its privileges, its volumes
 * (host-root → the temporary host root, the ConfigMap → `source`), host network, and the simulated host's
 * PID namespace in place of hostPID. Waits for it to exit; returns exit code and log.
 */
async function runPodContainer(
  spec: PodSpec,
  container: PodContainer,
  image: string,
): Promise<{ code: number; log: string }> {
  if (!spec.hostPID) throw new Error('the DaemonSet no longer uses the host PID namespace');
  if (!container.securityContext?.privileged) throw new Error(`${container.name} is no longer privileged`);
  const mounts = container.volumeMounts.map((m) => {
    const volume = spec.volumes.find((v) => v.name === m.name);
    if (volume?.hostPath?.path !== '/' && !volume?.configMap) throw new Error(`unexpected volume ${m.name}`);
    return {
      container_path: m.mountPath,
      host_path: volume.hostPath ? host : source,
      readonly: m.readOnly ?? false,
    };
  });
  // CRI's TARGET PID namespace needs a container of the same sandbox: the pod runs beside the simulated host.
  const name = `${container.name}-${++runs}`;
  const cri = lab().cri;
  const id = await createPrivileged(
    nodeSandbox.id,
    { metadata: { name }, image: { image }, command: container.command, mounts, log_path: `${name}.log` },
    nodeSandbox.config,
    { mode: TARGET, target: nodeContainer },
  );
  try {
    await cri.startContainer({ container_id: id });
    for (let i = 0; i < 1200; i++) {
      const { status } = await cri.containerStatus({ container_id: id });
      if (status?.state === 'CONTAINER_EXITED') {
        const log = readFileSync(join(nodeSandbox.config.log_directory!, `${name}.log`), 'utf8');
        return { code: status.exit_code, log };
      }
      await sleep(100);
    }
    throw new Error(`${container.name} did not exit`);
  } finally {
    await cri.removeContainer({ container_id: id });
  }
}

/**
 * The container fields this test needs and criguard's own CRI description leaves out (it declares only
 * what criguard reads): `linux.security_context` with `privileged` and a `TARGET` PID namespace. Field
 * numbers are the CRI's (runtime.v1 api.proto).
 */
const PRIVILEGED_CREATE = protobuf
  .parse(
    `syntax = "proto3";
  message NamespaceOption { int32 network = 1; int32 pid = 2; int32 ipc = 3; string target_id = 4; }
  message LinuxContainerSecurityContext { bool privileged = 2; NamespaceOption namespace_options = 3; }
  message LinuxContainerConfig { LinuxContainerSecurityContext security_context = 2; }
  message ContainerConfig { LinuxContainerConfig linux = 15; }
  message CreateContainerRequest { ContainerConfig config = 2; }`,
    { keepCase: true },
  )
  .root.lookupType('CreateContainerRequest');
const NODE = 2;
const CONTAINER = 1;
const TARGET = 3;

/**
 * CreateContainer with criguard's CRI client encoding for the common fields, plus a privileged security
 * context sharing `pid` (NODE … TARGET) appended (protobuf merges repeated occurrences of a message field).
 */
async function createPrivileged(
  pod: string,
  config: ContainerConfig,
  sandbox: PodSandboxConfig,
  pid: { mode: number; target?: string },
): Promise<string> {
  const base = encodeCriMessage('CreateContainerRequest', {
    pod_sandbox_id: pod,
    config,
    sandbox_config: sandbox,
  });
  const extra = PRIVILEGED_CREATE.encode({
    config: {
      linux: {
        security_context: {
          privileged: true,
          namespace_options: { network: NODE, pid: pid.mode, ipc: 0, target_id: pid.target ?? '' },
        },
      },
    },
  }).finish();
  const client = new grpc.Client(`unix://${lab().containerd.socket}`, grpc.credentials.createInsecure());
  try {
    const response = await new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(
        '/runtime.v1.RuntimeService/CreateContainer',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.concat([base, extra]),
        (err, res) => (err || !res ? reject(err) : resolve(res)),
      ),
    );
    return (decodeCriMessage('CreateContainerResponse', response) as { container_id: string }).container_id;
  } finally {
    client.close();
  }
}

const systemctlCalls = () =>
  existsSync(join(sim, 'systemctl.log')) ? readFileSync(join(sim, 'systemctl.log'), 'utf8') : '';

/** The simulated node and the pushed images; built by the first two tests (ava's timeout is per step). */
async function startNode(): Promise<void> {
  // The host root: a kubeadm node's kubelet configuration, the directories every host has.
  for (const dir of [
    'etc/systemd/system/multi-user.target.wants',
    'usr/local/bin',
    'var/lib/kubelet',
    'var/log',
    'run/containerd',
  ]) {
    mkdirSync(join(host, dir), { recursive: true });
  }
  writeFileSync(join(host, 'var/lib/kubelet/config.yaml'), KUBELET_CONFIG);
  writeFileSync(join(host, 'var/lib/kubelet/kubeadm-flags.env'), KUBEADM_FLAGS);
  writeFileSync(join(host, 'run/containerd/containerd.sock'), ''); // mount point for the lab's socket
  // What every host has and the simulated node's container runtime mounts over: no change to compare.
  for (const f of ['etc/hostname', 'etc/hosts', 'etc/resolv.conf']) writeFileSync(join(host, f), '');
  // The ConfigMap of deploy/base, with a free metrics port (9798 may be taken on this machine).
  metricsPort = await freePort();
  const configMap = (
    parseYaml(readFileSync('deploy/base/configmap.yaml', 'utf8')) as { data: Record<string, string> }
  ).data;
  await writeConfigMap(source, {
    ...configMap,
    'config.yaml': configMap['config.yaml']!.replace('127.0.0.1:9798', `127.0.0.1:${metricsPort}`),
  });
  pristine = tree();

  // The simulated node.
  mkdirSync(join(sim, 'queue'), { recursive: true });
  for (const f of ['init.sh', 'systemctl']) copyFileSync(join(SIM_FILES, f), join(sim, f));
  const config = sandboxConfig('node');
  const { pod_sandbox_id } = await lab().cri.runPodSandbox({ config });
  nodeSandbox = { id: pod_sandbox_id, config };
  await lab().cri.pullImage({ image: { image: images.v1 } });
  await lab().cri.pullImage({ image: { image: images.v2 } });
  const container_id = await createPrivileged(
    pod_sandbox_id,
    {
      metadata: { name: 'node' },
      image: { image: images.v1 },
      command: ['/bin/sh', '/sim/init.sh'],
      mounts: [
        { container_path: '/etc', host_path: join(host, 'etc') },
        { container_path: '/usr/local', host_path: join(host, 'usr/local') },
        { container_path: '/var', host_path: join(host, 'var') },
        { container_path: '/run', host_path: join(host, 'run') },
        { container_path: '/run/containerd/containerd.sock', host_path: lab().containerd.socket },
        { container_path: '/sim', host_path: sim },
        { container_path: '/usr/bin/systemctl', host_path: join(sim, 'systemctl'), readonly: true },
      ],
      log_path: 'node.log',
    },
    config,
    { mode: CONTAINER },
  );
  nodeContainer = container_id;
  await lab().cri.startContainer({ container_id });
}

test.after.always(async () => {
  if (nodeSandbox.id) {
    await lab()
      .cri.stopPodSandbox({ pod_sandbox_id: nodeSandbox.id })
      .catch(() => undefined);
    await lab()
      .cri.removePodSandbox({ pod_sandbox_id: nodeSandbox.id })
      .catch(() => undefined);
  }
  rmSync(work, { recursive: true, force: true });
});

test.serial(
  'two builds from the same inputs give the same image digest; the registry keeps it',
  async (t) => {
    const binary = (await packagedBinary()).path;
    const [first, again] = await Promise.all([build(binary, 'v1'), build(binary, 'v1-again')]);
    t.is(again.digest, first.digest);
    // An upgrade needs different bytes: the same executable with trailing bytes (ignored by the ELF loader).
    const v2 = join(work, 'criguard-v2');
    copyFileSync(binary, v2);
    appendFileSync(v2, '\n# criguard upgrade test\n');
    binaries = { v1: readFileSync(binary), v2: readFileSync(v2) };
    const second = await build(v2, 'v2');
    await labReady(lab);
    images = {
      v1: await push(first.dir, 'v1'),
      v2: await push(second.dir, 'v2'),
      digest1: first.digest,
      digest2: second.digest,
    };
    t.not(images.digest2, images.digest1, 'a different executable gives a different image');
    const { stdout } = await run('skopeo', [
      'inspect',
      '--tls-verify=false',
      '--format',
      '{{.Digest}}',
      `docker://${images.v1}`,
    ]);
    t.is(stdout.trim(), images.digest1);
  },
);

test.serial('install: the DaemonSet init container installs criguard and switches the kubelet', async (t) => {
  await startNode();
  const init = installer.initContainers.find((c) => c.name === 'install')!;
  const { code, log } = await runPodContainer(installer, init, images.v1);
  t.is(code, 0, log);
  const after = tree();
  const { added, removed, changed } = diff(pristine, after);
  t.deepEqual(removed, []);
  // Only the kubelet's endpoints change among the host's existing files (no directory mode either).
  t.deepEqual(changed.filter((p) => !daemonOwned(p)).sort(), [
    'var/lib/kubelet/config.yaml',
    'var/lib/kubelet/kubeadm-flags.env',
  ]);
  const installed = added.filter((p) => !daemonOwned(p) && !after.get(p)!.startsWith('dir '));
  for (const p of [
    'usr/local/bin/criguard',
    'etc/systemd/system/criguard.service',
    'etc/systemd/system/multi-user.target.wants/criguard.service',
    'etc/systemd/system/kubelet.service.d/10-criguard.conf',
    'etc/criguard/config.yaml',
    'etc/criguard/policy.yaml',
    'var/lib/criguard/install-state.json',
  ]) {
    t.true(installed.includes(p), `${p} installed`);
  }
  t.deepEqual(
    installed.filter(
      (p) =>
        !/^(usr\/local\/bin\/criguard|etc\/systemd\/system\/(multi-user\.target\.wants\/|sockets\.target\.wants\/)?criguard\.(service|socket)|etc\/systemd\/system\/kubelet\.service\.d\/10-criguard\.conf|etc\/criguard\/[^/]+|var\/lib\/criguard\/(install-state\.json|kubelet-backup\/.*))$/.test(
          p,
        ),
    ),
    [],
    'nothing else is written to the host',
  );
  t.true(readFileSync(join(host, 'usr/local/bin/criguard')).equals(binaries.v1));
  t.regex(
    readFileSync(join(host, 'var/lib/kubelet/config.yaml'), 'utf8'),
    /unix:\/\/\/run\/criguard\/criguard\.sock/,
  );
  t.regex(systemctlCalls(), /^restart kubelet\.service$/m);
  const res = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
  t.is(res.status, 200, 'criguard runs on the simulated host');
});

test.serial('one pass of the sync container (same command, one iteration) changes nothing', async (t) => {
  const before = tree();
  const calls = systemctlCalls();
  const sync = installer.containers.find((c) => c.name === 'sync')!;
  // Without --sync-interval: one pass of the same command (the loop's body), then exit.
  const once = { ...sync, command: sync.command.filter((a) => !a.startsWith('--sync-interval')) };
  const { code, log } = await runPodContainer(installer, once, images.v1);
  t.is(code, 0, log);
  const { added, removed, changed } = diff(before, tree());
  t.deepEqual(
    [...added, ...removed, ...changed].filter((p) => !daemonOwned(p)),
    [],
  );
  t.false(/restart/.test(systemctlCalls().slice(calls.length)), 'nothing restarted');
});

test.serial('upgrade: a new image replaces the binary and restarts criguard only', async (t) => {
  const before = tree();
  const calls = systemctlCalls();
  const init = installer.initContainers.find((c) => c.name === 'install')!;
  const { code, log } = await runPodContainer(installer, init, images.v2);
  t.is(code, 0, log);
  const { added, removed, changed } = diff(before, tree());
  t.deepEqual(
    removed.filter((p) => !daemonOwned(p)),
    [],
  );
  t.deepEqual(
    added.filter((p) => !daemonOwned(p)),
    [],
  );
  t.deepEqual(
    changed.filter((p) => !daemonOwned(p) && !before.get(p)!.startsWith('dir ')),
    ['usr/local/bin/criguard'],
  );
  t.true(readFileSync(join(host, 'usr/local/bin/criguard')).equals(binaries.v2));
  const newCalls = systemctlCalls().slice(calls.length);
  t.regex(newCalls, /^restart criguard\.service$/m);
  t.notRegex(newCalls, /kubelet/);
  t.is((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status, 200);
});

test.serial(
  'uninstall: the kubelet is restored byte for byte, criguard removed, config and state kept',
  async (t) => {
    const init = uninstaller.initContainers.find((c) => c.name === 'uninstall')!;
    const { code, log } = await runPodContainer(uninstaller, init, images.v2);
    t.is(code, 0, log);
    const after = tree();
    t.is(readFileSync(join(host, 'var/lib/kubelet/config.yaml'), 'utf8'), KUBELET_CONFIG);
    t.is(readFileSync(join(host, 'var/lib/kubelet/kubeadm-flags.env'), 'utf8'), KUBEADM_FLAGS);
    const { added, removed } = diff(pristine, after);
    t.deepEqual(removed, []);
    // Documented (docs/operations.md, "Uninstall"): without --purge, /etc/criguard and /var/lib/criguard stay.
    t.deepEqual(
      added.filter((p) => !/^(etc\/criguard|var\/lib\/criguard|var\/log\/criguard)(\/|$)/.test(p)),
      added.includes('etc/systemd/system/kubelet.service.d') ? ['etc/systemd/system/kubelet.service.d'] : [],
      'only the kubelet drop-in directory, emptied, besides the documented configuration and state',
    );
    if (added.includes('etc/systemd/system/kubelet.service.d')) {
      t.deepEqual(readdirSync(join(host, 'etc/systemd/system/kubelet.service.d')), []);
    }
    t.false(after.has('usr/local/bin/criguard'));
    t.false(after.has('etc/systemd/system/criguard.service'));
    t.false(after.has('run/criguard'), 'criguard stopped (its runtime directory is gone)');
    await t.throwsAsync(fetch(`http://127.0.0.1:${metricsPort}/readyz`));
  },
);
