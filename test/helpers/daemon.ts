/** Spawning long-running test daemons (containerd, the registry, criguard) with their output in a log file. */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { onProcessExit } from './exit-hooks.js';

/** A running child process whose stdout and stderr go to `logFile`. */
export interface Daemon {
  readonly pid: number;
  readonly logFile: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL; resolves when the process has exited. */
  kill(): Promise<void>;
}

/** Starts `command args` detached from our stdio, appending its output to `logFile`. Killed at process exit. */
export function spawnDaemon(
  command: string,
  args: string[],
  opts: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string },
): Daemon {
  const fd = openSync(opts.logFile, 'a');
  const child = spawn(command, args, {
    stdio: ['ignore', fd, fd],
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  });
  closeSync(fd);
  let done = false;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve(code ?? signal ?? -1);
    });
    child.once('error', () => {
      done = true;
      resolve(-1);
    });
  });
  const unhook = onProcessExit(() => {
    if (!done) child.kill('SIGKILL');
  });
  void exited.then(unhook);

  async function stop(graceMs = 5000): Promise<void> {
    if (!done) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
  }
  async function kill(): Promise<void> {
    if (!done) child.kill('SIGKILL');
    await exited;
  }
  return { pid: child.pid ?? -1, logFile: opts.logFile, child, exited, stop, kill };
}

/** Polls `check` every `intervalMs` until it returns true; throws (with `describe()`) after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs?: number; intervalMs?: number; daemon?: Daemon } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let exitedEarly: number | string | undefined;
  void opts.daemon?.exited.then((code) => (exitedEarly = code));
  for (;;) {
    if (await check().catch(() => false)) return;
    if (exitedEarly !== undefined) {
      throw new Error(`${what}: process exited early (${exitedEarly})\n${logTail(opts.daemon?.logFile)}`);
    }
    if (Date.now() > deadline) throw new Error(`${what}: timed out\n${logTail(opts.daemon?.logFile)}`);
    await sleep(opts.intervalMs ?? 50);
  }
}

/** The last `lines` lines of a log file, for error messages (empty string if unreadable). */
export function logTail(file: string | undefined, lines = 30): string {
  if (!file) return '';
  try {
    const text = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    if (!text) return `(${file} is empty)`;
    return `--- last lines of ${file} ---\n${text}`;
  } catch {
    return '';
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
