/**
 * criguard under socket activation, the way systemd runs it with criguard.socket: Debian's
 * `systemd-socket-activate` binds and holds the listening socket (fd 3, LISTEN_FDS/LISTEN_FDNAMES) and a
 * small shell loop stands in for the service's `Restart=always`, starting criguard again whenever it exits
 * with the same socket. Also a steady CRI call loop that records every failure, for restart tests.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCriClient, type CriClient } from './cri-client.js';
import { criguardCommand } from './criguard.js';
import { freePort, spawnDaemon, waitFor, type Daemon } from './daemon.js';

/** LISTEN_PID must name criguard itself: the inner shell sets it to its own pid, then execs criguard. */
const SUPERVISOR = `#!/bin/sh
stopping=
trap 'stopping=1; kill -TERM "$child" 2>/dev/null' TERM
while [ -z "$stopping" ]; do
  sh -c 'echo $$ > "$CRIGUARD_PIDFILE"; LISTEN_PID=$$; export LISTEN_PID; exec "$@"' criguard "$@" &
  child=$!
  wait "$child"
  wait "$child" 2>/dev/null
done
`;

export interface ActivatedCriguard {
  readonly socket: string;
  readonly metricsUrl: string;
  readonly dir: string;
  readonly logFile: string;
  /** systemd-socket-activate (then the supervisor shell, same process). */
  readonly holder: Daemon;
  /** The pid of the criguard now running, if one was started yet. */
  criguardPid(): number | undefined;
  /** SIGTERM to criguard; resolves once its successor answers /readyz. */
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

/**
 * Starts the socket holder and returns as soon as the socket exists — before criguard runs: like
 * systemd, the holder starts criguard at the first connection.
 */
export async function startActivatedCriguard(options: {
  readonly upstream: string;
  readonly extraArgs?: readonly string[];
  /** Environment for criguard (systemd-socket-activate, like systemd, passes on nothing else). */
  readonly env?: Readonly<Record<string, string>>;
}): Promise<ActivatedCriguard> {
  const dir = mkdtempSync(join(tmpdir(), 'cga-'));
  const socket = join(dir, 'criguard.sock');
  const logFile = join(dir, 'criguard.log');
  const pidFile = join(dir, 'criguard.pid');
  const supervisor = join(dir, 'supervise.sh');
  writeFileSync(supervisor, SUPERVISOR, { mode: 0o755 });
  const port = await freePort();
  const metricsUrl = `http://127.0.0.1:${port}`;
  const { command, prefix } = criguardCommand();
  const holder = spawnDaemon(
    'systemd-socket-activate',
    [
      '--listen',
      socket,
      '--fdname=criguard',
      ...Object.entries({ PATH: '/usr/bin:/bin', ...options.env, CRIGUARD_PIDFILE: pidFile }).map(
        ([name, value]) => `--setenv=${name}=${value}`,
      ),
      supervisor,
      command,
      ...prefix,
      'serve',
      '--listen',
      socket,
      '--upstream',
      options.upstream,
      '--metrics-address',
      `127.0.0.1:${port}`,
      ...(options.extraArgs ?? []),
    ],
    { logFile },
  );
  // The socket file appears at bind(), a moment before listen(): wait for the holder's own word that it
  // listens (as systemd's socket unit is active only once it listens).
  await waitFor(
    'systemd-socket-activate listening',
    async () => readFileSync(logFile, 'utf8').includes(`Listening on ${socket} as 3.`),
    { daemon: holder, intervalMs: 5 },
  );
  const criguardPid = () => {
    try {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      return pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  const ready = async () => (await fetch(`${metricsUrl}/readyz`)).status === 200;
  return {
    socket,
    metricsUrl,
    dir,
    logFile,
    holder,
    criguardPid,
    async restart() {
      const old = criguardPid();
      if (old === undefined) throw new Error('criguard has not been started yet');
      process.kill(old, 'SIGTERM');
      await waitFor('criguard restarted and ready', async () => criguardPid() !== old && (await ready()), {
        daemon: holder,
        timeoutMs: 30_000,
        intervalMs: 20,
      });
    },
    async dispose() {
      await holder.stop(5000);
      const pid = criguardPid();
      if (pid !== undefined) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One failed call of a call loop. */
export interface CallFailure {
  readonly method: string;
  readonly code: number | undefined;
  readonly details: string;
  readonly atMs: number;
}

export interface CallLoop {
  /** Stops issuing calls, waits for those in flight, closes the clients. */
  stop(): Promise<{ calls: number; failures: CallFailure[] }>;
}

/**
 * `clients` persistent CRI clients (as the kubelet keeps its connection) each calling Version and
 * ListImages back to back through `socket`, plus one client that reconnects for every few calls (as a
 * restarted kubelet or crictl does). Every failure is recorded, whatever its code.
 */
export function startCallLoop(
  socket: string,
  opts: { clients?: number; deadlineMs?: number } = {},
): CallLoop {
  const deadlineMs = opts.deadlineMs ?? 20_000;
  const started = performance.now();
  let running = true;
  let calls = 0;
  const failures: CallFailure[] = [];
  const call = async (client: CriClient, method: 'version' | 'listImages') => {
    try {
      if (method === 'version') await client.version({ version: 'v1' });
      else await client.listImages({});
      calls++;
    } catch (err) {
      const e = err as { code?: number; details?: string; message?: string };
      failures.push({
        method,
        code: e.code,
        details: e.details ?? e.message ?? String(err),
        atMs: Math.round(performance.now() - started),
      });
      await sleep(10); // a failing socket must not turn the loop into a busy spin
    }
  };
  const persistent = async () => {
    const client = createCriClient(socket, { deadlineMs });
    try {
      while (running) {
        await call(client, 'version');
        await call(client, 'listImages');
      }
    } finally {
      client.close();
    }
  };
  const reconnecting = async () => {
    while (running) {
      const client = createCriClient(socket, { deadlineMs });
      try {
        for (let i = 0; i < 5 && running; i++) await call(client, i % 2 === 0 ? 'version' : 'listImages');
      } finally {
        client.close();
      }
    }
  };
  const workers = [...Array.from({ length: opts.clients ?? 2 }, () => persistent()), reconnecting()];
  return {
    async stop() {
      running = false;
      await Promise.all(workers);
      return { calls, failures };
    },
  };
}
