/**
 * A private containerd (Debian's containerd 1.6 + runc) for end-to-end tests: own root, state, socket and
 * registry configuration in a short temp dir (`/tmp/cgc-XXXXXX`), CRI with the `native` snapshotter and no
 * CNI (pods must use the node network namespace).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCriClient, FAST_RECONNECT } from './cri-client.js';
import { spawnDaemon, waitFor, logTail, type Daemon } from './daemon.js';
import { onProcessExit } from './exit-hooks.js';
import { PAUSE_NAME, PAUSE_TAG } from './images.js';

export interface ContainerdOptions {
  /** `127.0.0.1:PORT` of the test registry; containerd reaches it over plain HTTP. */
  registryHost: string;
  /** Pod sandbox image (default `<registryHost>/criguard-test/pause:1`, see `pushPauseImage`). */
  sandboxImage?: string;
}

export interface Containerd {
  /** The CRI (and containerd API) unix socket path. */
  readonly socket: string;
  /** The temp dir holding config, root, state, CNI dirs and `containerd.log`. */
  readonly dir: string;
  readonly logFile: string;
  /** SIGTERM the daemon, keeping its state (containers and shims survive, as in a real restart). */
  stop(): Promise<void>;
  /** SIGKILL the daemon (a crash), keeping its state. */
  kill(): Promise<void>;
  /** Stops the daemon if running and starts it again; resolves when the CRI answers Version. */
  restart(): Promise<void>;
  /** Removes every pod and container, stops the daemon, kills leftover shims, unmounts and deletes `dir`. Idempotent. */
  dispose(): Promise<void>;
  /** The last lines of the log, for failure messages. */
  logTail(lines?: number): string;
}

const DISABLED_PLUGINS = [
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.snapshotter.v1.overlayfs',
  'io.containerd.internal.v1.opt',
  'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.internal.v1.tracing',
];

function configToml(dir: string, socket: string, registryHost: string, sandboxImage: string): string {
  const q = JSON.stringify; // TOML basic strings accept JSON string syntax for our plain paths
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = ${q(join(dir, 'root'))}
state = ${q(join(dir, 'state'))}
disabled_plugins = [${DISABLED_PLUGINS.map((p) => q(p)).join(', ')}]

[grpc]
  address = ${q(socket)}

[ttrpc]
  address = ${q(`${socket}.ttrpc`)}

[debug]
  level = "info"

[${cri}]
  sandbox_image = ${q(sandboxImage)}
  disable_apparmor = true
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[${cri}.containerd]
  snapshotter = "native"
  default_runtime_name = "runc"

[${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[${cri}.cni]
  bin_dir = ${q(join(dir, 'cni', 'bin'))}
  conf_dir = ${q(join(dir, 'cni', 'conf'))}

[${cri}.registry]
  config_path = ${q(join(dir, 'certs.d'))}
  # ${registryHost} is configured in certs.d
`;
}

/** Every process whose command line carries `-address <socket>` (our shims), with their descendants. */
function leftoverProcesses(socket: string): number[] {
  const parents = new Map<number, number>();
  const shims: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(pid, ppid);
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const i = argv.indexOf('-address');
      if (i >= 0 && argv[i + 1] === socket) shims.push(pid);
    } catch {
      // The process went away while we looked.
    }
  }
  const result = new Set<number>(shims);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parents) {
      if (!result.has(pid) && result.has(ppid)) {
        result.add(pid);
        grew = true;
      }
    }
  }
  // Descendants (container processes) first, shims last.
  return [...result].reverse();
}

/** Mount points at or under `dir`, deepest first. */
function mountsUnder(dir: string): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) =>
      (line.split(' ')[4] ?? '').replace(/\\(\d{3})/g, (_m, o: string) =>
        String.fromCharCode(parseInt(o, 8)),
      ),
    )
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
  return points.sort((a, b) => b.length - a.length);
}

/**
 * Machine-wide files that shims leave behind when killed: runc's state dir `/run/containerd/runc/<ns>/<id>`
 * and the shim socket `/run/containerd/s/<sha256(<socket>/<ns>/<id>)>` (containerd 1.6 layout). Task ids
 * come from our own state dir, so only our files are touched.
 */
function shimLeftovers(dir: string, socket: string): string[] {
  const tasks = join(dir, 'state', 'io.containerd.runtime.v2.task');
  const paths: string[] = [];
  for (const ns of safeReaddir(tasks)) {
    for (const id of safeReaddir(join(tasks, ns))) {
      const hash = createHash('sha256')
        .update(join(socket, ns, id))
        .digest('hex');
      paths.push(join('/run/containerd/runc', ns, id), join('/run/containerd/s', hash));
    }
  }
  return paths;
}

function safeReaddir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/** Synchronous last-resort clean-up: kill our shims and their containers, unmount, delete the dir. */
function purge(dir: string, socket: string): void {
  const machineFiles = shimLeftovers(dir, socket);
  for (const pid of leftoverProcesses(socket)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  for (let round = 0; round < 3; round++) {
    const mounts = mountsUnder(dir);
    if (mounts.length === 0) break;
    for (const m of mounts) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  }
  for (const path of machineFiles) rmSync(path, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Starts containerd and resolves once its CRI answers Version (throws with the log tail otherwise). */
export async function startContainerd(opts: ContainerdOptions): Promise<Containerd> {
  const dir = mkdtempSync('/tmp/cgc-');
  const socket = join(dir, 'c.sock');
  const logFile = join(dir, 'containerd.log');
  const unhook = onProcessExit(() => purge(dir, socket));
  const hostsDir = join(dir, 'certs.d', opts.registryHost);
  for (const d of [hostsDir, join(dir, 'cni', 'bin'), join(dir, 'cni', 'conf')])
    mkdirSync(d, { recursive: true });
  writeFileSync(
    join(hostsDir, 'hosts.toml'),
    `server = "http://${opts.registryHost}"\n\n[host."http://${opts.registryHost}"]\n  capabilities = ["pull", "resolve", "push"]\n`,
  );
  const config = join(dir, 'config.toml');
  const sandboxImage = opts.sandboxImage ?? `${opts.registryHost}/${PAUSE_NAME}:${PAUSE_TAG}`;
  writeFileSync(config, configToml(dir, socket, opts.registryHost, sandboxImage));

  let daemon: Daemon | undefined;
  async function start(): Promise<void> {
    const d = spawnDaemon('containerd', ['--config', config], { logFile });
    daemon = d;
    const client = createCriClient(socket, { deadlineMs: 1000, channelOptions: FAST_RECONNECT });
    try {
      await waitFor(
        'containerd CRI',
        async () => (await client.version({ version: 'v1' })).runtime_api_version === 'v1',
        { daemon: d, timeoutMs: 30_000, intervalMs: 50 },
      );
    } finally {
      client.close();
    }
  }
  async function stop(): Promise<void> {
    await daemon?.stop(10_000);
    daemon = undefined;
  }
  async function kill(): Promise<void> {
    await daemon?.kill();
    daemon = undefined;
  }
  /** Best-effort removal of all pods and containers through the CRI, so runc cleans up properly. */
  async function removeAllPods(): Promise<void> {
    const client = createCriClient(socket, { deadlineMs: 15_000 });
    try {
      const { containers } = await client.listContainers({});
      for (const c of containers) {
        await client.stopContainer({ container_id: c.id, timeout: 0 }).catch(() => undefined);
        await client.removeContainer({ container_id: c.id }).catch(() => undefined);
      }
      const { items } = await client.listPodSandbox({});
      for (const p of items) {
        await client.stopPodSandbox({ pod_sandbox_id: p.id }).catch(() => undefined);
        await client.removePodSandbox({ pod_sandbox_id: p.id }).catch(() => undefined);
      }
    } catch {
      // The daemon may be wedged; purge() still kills and unmounts everything.
    } finally {
      client.close();
    }
  }

  let disposed = false;
  async function dispose(): Promise<void> {
    if (disposed) return;
    disposed = true;
    if (daemon) await removeAllPods();
    await stop();
    purge(dir, socket);
    unhook();
  }

  try {
    await start();
  } catch (err) {
    await dispose();
    throw err;
  }
  return {
    socket,
    dir,
    logFile,
    stop,
    kill,
    async restart() {
      await stop();
      await start();
    },
    dispose,
    logTail: (lines?: number) => logTail(logFile, lines),
  };
}
