/**
 * Runs the real criguard daemon for end-to-end tests: the bundle `dist/criguard.cjs` under node, or the
 * single-file executable when CRIGUARD_BINARY names one (or `binary` is given).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCriClient } from './cri-client.js';
import { freePort, spawnDaemon, waitFor, type Daemon } from './daemon.js';

export interface Criguard {
  readonly socket: string;
  /** `http://127.0.0.1:PORT` of /metrics, /healthz, /readyz, /status. */
  readonly metricsUrl: string;
  readonly dir: string;
  readonly logFile: string;
  daemon: Daemon;
  /** Starts the daemon again with the same arguments (after stop/kill); waits until it answers. */
  start(): Promise<void>;
  stop(graceMs?: number): Promise<void>;
  dispose(): Promise<void>;
}

export interface CriguardOptions {
  readonly upstream: string;
  readonly extraArgs?: readonly string[];
  readonly binary?: string;
  /** Wait until Version answers through to containerd (default true). */
  readonly waitReady?: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

export function criguardCommand(binary = process.env.CRIGUARD_BINARY): { command: string; prefix: string[] } {
  return binary
    ? { command: binary, prefix: [] }
    : { command: process.execPath, prefix: ['dist/criguard.cjs'] };
}

export async function startCriguard(options: CriguardOptions): Promise<Criguard> {
  const dir = mkdtempSync(join(tmpdir(), 'cgd-'));
  const socket = join(dir, 'criguard.sock');
  const logFile = join(dir, 'criguard.log');
  const { command, prefix } = criguardCommand(options.binary);
  const port = await freePort();
  const args = [
    ...prefix,
    'serve',
    '--listen',
    socket,
    '--upstream',
    options.upstream,
    '--metrics-address',
    `127.0.0.1:${port}`,
    ...(options.extraArgs ?? []),
  ];
  const self: Criguard = {
    socket,
    metricsUrl: `http://127.0.0.1:${port}`,
    dir,
    logFile,
    daemon: undefined as unknown as Daemon,
    async start() {
      self.daemon = spawnDaemon(command, args, { logFile, env: options.env ?? process.env });
      if (options.waitReady === false) return;
      const probe = createCriClient(socket, { deadlineMs: 2000 });
      try {
        await waitFor(
          'criguard answering Version',
          async () => Boolean((await probe.version({})).runtime_name),
          {
            daemon: self.daemon,
            timeoutMs: 30_000,
          },
        );
      } finally {
        probe.close();
      }
    },
    stop: (graceMs) => self.daemon.stop(graceMs),
    async dispose() {
      await self.daemon?.stop(2000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await self.start();
  return self;
}
