import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Route } from './routes.js';
import { ConnectionBridge, type BridgeLimits, type BridgeLogger } from './transport/connection-bridge.js';

export interface ProxyServerOptions {
  /** Unix socket path criguard listens on. */
  readonly listenPath: string;
  /** Unix socket path of containerd. */
  readonly upstreamPath: string;
  /** Permission bits of the listening socket (e.g. 0o660). */
  readonly socketMode: number;
  readonly route: (path: string) => Route;
  readonly logger: BridgeLogger & { info(fields: Record<string, unknown>, message: string): void };
  readonly limits: BridgeLimits;
  readonly onUpstreamUnavailable?: () => void;
}

export interface ProxyServer {
  /** Client connections currently open. */
  readonly connections: number;
  /**
   * Stops accepting, asks clients to go away (GOAWAY), waits up to `timeoutMs` for unary calls in flight,
   * then closes everything and removes the socket file. Resolves to the number of connections cut.
   */
  stop(timeoutMs: number): Promise<number>;
}

/** A start-up failure the operator must fix; `code` is stable. */
export class SocketSetupError extends Error {
  constructor(
    readonly code: 'CG_ERR_SOCKET_IN_USE' | 'CG_ERR_SOCKET_PATH',
    message: string,
  ) {
    super(message);
    this.name = 'SocketSetupError';
  }
}

export const DEFAULT_LIMITS: BridgeLimits = Object.freeze({
  maxHeaderListSize: 1024 * 1024,
  maxMessageSize: 16 * 1024 * 1024,
  maxStreams: 10_000,
});

/**
 * Starts the CRI proxy: prepares the socket path (parent created 0750 if missing; a stale socket from a
 * crashed run replaced; a live one, a symlink or a non-socket refused with SocketSetupError), listens
 * with `socketMode`, and bridges each client connection to its own upstream connection.
 */
export async function startProxyServer(options: ProxyServerOptions): Promise<ProxyServer> {
  await prepareSocketPath(options.listenPath);
  const bridges = new Set<ConnectionBridge>();
  const server = createServer({ allowHalfOpen: false }, (client: Socket) => {
    const upstream = connect(options.upstreamPath);
    upstream.setNoDelay?.(true);
    const bridge = new ConnectionBridge(
      client,
      upstream,
      {
        route: options.route,
        logger: options.logger,
        limits: options.limits,
        upstreamName: 'containerd',
        onUpstreamUnavailable: options.onUpstreamUnavailable,
      },
      (b) => bridges.delete(b),
    );
    bridges.add(bridge);
  });
  await listen(server, options.listenPath, options.socketMode);
  const inode = lstatSync(options.listenPath).ino;

  return {
    get connections() {
      return bridges.size;
    },
    async stop(timeoutMs) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      removeSocketIfOurs(options.listenPath, inode);
      const drained = Promise.all([...bridges].map((b) => b.drain()));
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      const result = await Promise.race([drained, timedOut]);
      clearTimeout(timer);
      const cut = result === 'timeout' ? bridges.size : 0;
      for (const b of [...bridges]) b.close();
      await closed;
      return cut;
    },
  };
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
      `another process is serving ${path} (is criguard already running?)`,
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

function listen(server: Server, path: string, mode: number): Promise<void> {
  // Create the socket file without group/other write access from the start, then set the exact mode.
  const previous = process.umask(0o177);
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  }).finally(() => {
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
