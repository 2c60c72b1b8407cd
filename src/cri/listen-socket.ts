import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  unlinkSync,
} from 'node:fs';
import { connect, type Server } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { CriguardError } from '../errors/criguard-error.js';

/** Why the CRI socket could not be set up. */
export type SocketSetupErrorCode = 'CG_ERR_SOCKET_IN_USE' | 'CG_ERR_SOCKET_PATH' | 'CG_ERR_SOCKET_ACTIVATION';

/** A start-up failure the operator must fix; `code` is stable. */
export class SocketSetupError extends CriguardError<SocketSetupErrorCode> {
  constructor(code: SocketSetupErrorCode, message: string) {
    super(code, message);
    this.name = 'SocketSetupError';
  }
}

/** The first file descriptor a service manager passes (`SD_LISTEN_FDS_START`). */
const FIRST_PASSED_FD = 3;

/** A listening socket passed by the service manager (systemd socket activation). */
export interface InheritedSocket {
  readonly fd: number;
  /** `LISTEN_FDNAMES` entry (`FileDescriptorName=` of the socket unit), when given. */
  readonly name: string | undefined;
}

/**
 * Reads systemd's socket-activation protocol (`LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`, as
 * `sd_listen_fds(3)`): undefined when no socket was passed to *this* process (no variables, or
 * `LISTEN_PID` names another process, e.g. a parent that passed them on by mistake). criguard serves one
 * socket: more than one, or malformed values, throw CG_ERR_SOCKET_ACTIVATION rather than guessing.
 * The variables are removed from `env` once read, so no child process inherits them.
 */
export function takeSystemdSocket(
  env: Record<string, string | undefined>,
  pid: number,
): InheritedSocket | undefined {
  const { LISTEN_PID: listenPid, LISTEN_FDS: listenFds, LISTEN_FDNAMES: names } = env;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (listenFds === undefined && listenPid === undefined) return undefined;
  if (listenPid === undefined || !/^\d+$/.test(listenPid) || Number(listenPid) !== pid) return undefined;
  if (listenFds === undefined || !/^\d+$/.test(listenFds)) {
    throw new SocketSetupError('CG_ERR_SOCKET_ACTIVATION', `LISTEN_FDS="${listenFds ?? ''}" is not a number`);
  }
  const count = Number(listenFds);
  if (count === 0) return undefined;
  if (count !== 1) {
    throw new SocketSetupError(
      'CG_ERR_SOCKET_ACTIVATION',
      `the service manager passed ${count} sockets; criguard serves exactly one (one ListenStream= in criguard.socket)`,
    );
  }
  return { fd: FIRST_PASSED_FD, name: names === undefined || names === '' ? undefined : names };
}

/** What `bindListenSocket` set up; `release()` is called once the server has stopped accepting. */
export interface ListenSocket {
  /** True when the socket came from the service manager (it stays open there across restarts). */
  readonly inherited: boolean;
  /** Removes the socket file when criguard created it (and it is still that socket); a no-op otherwise. */
  release(): void;
}

/**
 * Makes `server` listen. With `inherited`, on the service manager's socket: it must be a listening unix
 * stream socket bound to `path` (checked through /proc where available, else CG_ERR_SOCKET_PATH names
 * both), and its file is never removed — the manager owns it and keeps it open while criguard restarts.
 * Without, on a socket criguard creates at `path` with `mode`: the parent is created 0750 if missing; a
 * stale socket from a crashed run is replaced; a live one, a symlink or a non-socket is refused with
 * SocketSetupError.
 */
export async function bindListenSocket(
  server: Server,
  options: { readonly path: string; readonly mode: number; readonly inherited?: InheritedSocket },
): Promise<ListenSocket> {
  if (options.inherited) {
    assertInheritedSocket(options.inherited.fd, options.path);
    await listenOn(server, { fd: options.inherited.fd });
    return { inherited: true, release: () => undefined };
  }
  await prepareSocketPath(options.path);
  await listenAt(server, options.path, options.mode);
  const inode = lstatSync(options.path).ino;
  return { inherited: false, release: () => removeSocketIfOurs(options.path, inode) };
}

/**
 * The passed descriptor must be a listening unix stream socket bound to `path` (the kubelet's endpoint;
 * directories compared with their symlinks resolved). Linux's /proc/net/unix tells; when /proc is not
 * readable the check is skipped (listen() then still refuses a descriptor that is not a socket). Throws
 * SocketSetupError (CG_ERR_SOCKET_ACTIVATION, CG_ERR_SOCKET_PATH).
 */
export function assertInheritedSocket(fd: number, path: string): void {
  let link: string;
  try {
    link = readlinkSync(`/proc/self/fd/${fd}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EBADF' || (err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new SocketSetupError(
        'CG_ERR_SOCKET_ACTIVATION',
        `LISTEN_FDS says fd ${fd} was passed, but it is not open`,
      );
    }
    return; // no /proc: nothing more to check
  }
  const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
  if (inode === undefined) {
    throw new SocketSetupError('CG_ERR_SOCKET_ACTIVATION', `the passed fd ${fd} is not a socket (${link})`);
  }
  let table: string;
  try {
    table = readFileSync('/proc/net/unix', 'latin1');
  } catch {
    return;
  }
  const entry = parseUnixTable(table).get(inode);
  if (entry === undefined || !entry.listeningStream) {
    throw new SocketSetupError(
      'CG_ERR_SOCKET_ACTIVATION',
      `the passed fd ${fd} is not a listening unix stream socket (criguard.socket needs ListenStream=${path})`,
    );
  }
  if (canonical(entry.path) !== canonical(path)) {
    throw new SocketSetupError(
      'CG_ERR_SOCKET_PATH',
      `the service manager passed a socket bound to ${entry.path || '(no path)'}, but listen is ${path}: ` +
        'the kubelet is pointed at listen, so make ListenStream= in criguard.socket and listen agree',
    );
  }
}

/** The path with its directory's symlinks resolved (`/var/run` → `/run`), or as given when that fails. */
function canonical(path: string): string {
  try {
    return join(realpathSync(dirname(path)), basename(path));
  } catch {
    return path;
  }
}

const SOCK_STREAM = 1;
const SO_ACCEPTCON = 0x10000;

/** /proc/net/unix rows by inode: `Num RefCount Protocol Flags Type St Inode Path`. */
function parseUnixTable(table: string): Map<string, { listeningStream: boolean; path: string }> {
  const rows = new Map<string, { listeningStream: boolean; path: string }>();
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 7) continue;
    const [, , , flags = '0', type = '0', , inode = '', ...path] = fields;
    rows.set(inode, {
      listeningStream: parseInt(type, 16) === SOCK_STREAM && (parseInt(flags, 16) & SO_ACCEPTCON) !== 0,
      path: path.join(' '),
    });
  }
  return rows;
}

async function prepareSocketPath(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
  let stat;
  try {
    stat = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (stat.isSymbolicLink())
    throw new SocketSetupError('CG_ERR_SOCKET_PATH', `${path} is a symlink; refusing to use it`);
  if (!stat.isSocket())
    throw new SocketSetupError('CG_ERR_SOCKET_PATH', `${path} exists and is not a socket`);
  if (await isLive(path)) {
    throw new SocketSetupError(
      'CG_ERR_SOCKET_IN_USE',
      `another process is serving ${path} (is criguard already running, or criguard.socket active ` +
        'while criguard was started outside it?)',
    );
  }
  unlinkSync(path); // a stale socket from a run that crashed
}

function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

function listenOn(server: Server, handle: { fd: number } | string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(handle, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function listenAt(server: Server, path: string, mode: number): Promise<void> {
  // Create the socket file without group/other write access from the start, then set the exact mode.
  const previous = process.umask(0o177);
  return listenOn(server, path).finally(() => {
    process.umask(previous);
    try {
      chmodSync(path, mode);
    } catch {
      /* listen failed: nothing to chmod */
    }
  });
}

function removeSocketIfOurs(path: string, inode: number): void {
  try {
    const stat = lstatSync(path);
    if (stat.isSocket() && stat.ino === inode) unlinkSync(path);
  } catch {
    /* already gone */
  }
}
