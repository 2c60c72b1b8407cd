import { createServer, Socket } from 'node:net';
import { bindListenSocket, type InheritedSocket } from './listen-socket.js';
import type { Route } from './transport/contract.js';
import { ConnectionBridge, type BridgeLimits, type BridgeLogger } from './transport/connection-bridge.js';
import { ErrorCode, encodeGoaway, encodeSettings } from './transport/frames.js';

/** Per-connection limits, plus how many client connections are served at once. */
export interface ProxyLimits extends BridgeLimits {
  /** Client connections served at once; more are refused with GOAWAY (ENHANCE_YOUR_CALM). */
  readonly maxConnections: number;
  /** Held bytes across all connections; a call that would pass it is refused (RESOURCE_EXHAUSTED). */
  readonly maxHeldBytesTotal: number;
}

export interface ProxyServerOptions {
  /** Unix socket path criguard listens on. */
  readonly listenPath: string;
  /** Unix socket path of containerd. */
  readonly upstreamPath: string;
  /** Permission bits of the listening socket (e.g. 0o660). */
  readonly socketMode: number;
  /** The socket systemd passed (socket activation): served instead of creating one at `listenPath`. */
  readonly inheritedSocket?: InheritedSocket;
  readonly route: (path: string) => Route;
  readonly logger: BridgeLogger & { info(fields: Record<string, unknown>, message: string): void };
  readonly limits: ProxyLimits;
  readonly onUpstreamUnavailable?: () => void;
}

export interface ProxyServer {
  /** Client connections currently open. */
  readonly connections: number;
  /** Bytes the open connections hold in memory (held calls, incomplete frames, write queues). */
  readonly bufferedBytes: number;
  /**
   * Stops accepting, asks clients to go away (GOAWAY), waits up to `timeoutMs` for unary calls in flight,
   * then closes everything and removes the socket file if criguard created it. Resolves, to the number of
   * connections cut, once every socket is closed: idle connections close at once, and nothing waits for a
   * peer's own close.
   */
  stop(timeoutMs: number): Promise<number>;
}

export { SocketSetupError } from './listen-socket.js';

const MiB = 1024 * 1024;
/** How long a stop waits, after the last call, for clients to close their side before closing it. */
const CLOSE_LINGER_MS = 100;
const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/** The defaults; `criguard serve` overrides the `connections.*` settings (docs/configuration.md). */
export const DEFAULT_LIMITS: ProxyLimits = Object.freeze({
  maxHeaderListSize: MiB,
  maxMessageSize: 16 * MiB,
  maxStreams: 10_000,
  maxHeldBytes: 64 * MiB,
  writeHighWaterMark: MiB,
  prefaceTimeoutMs: 10_000,
  idleTimeoutMs: 600_000,
  maxConnections: 128,
  maxHeldBytesTotal: 256 * MiB,
});

/**
 * Starts the CRI proxy: listens (on the inherited socket, or on one it creates: see `bindListenSocket`)
 * and bridges each client connection to its own upstream connection.
 */
export async function startProxyServer(options: ProxyServerOptions): Promise<ProxyServer> {
  const bridges = new Set<ConnectionBridge>();
  const refusing = new Set<Socket>();
  const heldBudget = { used: 0, limit: options.limits.maxHeldBytesTotal };
  const refusals = refusalReporter(options.logger, options.limits.maxConnections);
  const server = createServer({ allowHalfOpen: false }, (client: Socket) => {
    if (bridges.size >= options.limits.maxConnections) {
      refusals.refused();
      refusing.add(client);
      client.once('close', () => refusing.delete(client));
      refuseConnection(client);
      return;
    }
    const bridge = new ConnectionBridge(
      client,
      new Socket(),
      {
        route: options.route,
        heldBudget,
        connectUpstream: (upstream) => upstream.connect(options.upstreamPath),
        logger: options.logger,
        limits: options.limits,
        upstreamName: 'containerd',
        onUpstreamUnavailable: options.onUpstreamUnavailable,
      },
      (b) => bridges.delete(b),
    );
    bridges.add(bridge);
  });
  const socket = await bindListenSocket(server, {
    path: options.listenPath,
    mode: options.socketMode,
    inherited: options.inheritedSocket,
  });

  return {
    get connections() {
      return bridges.size;
    },
    get bufferedBytes() {
      let total = 0;
      for (const b of bridges) total += b.bufferedBytes;
      return total;
    },
    async stop(timeoutMs) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      socket.release();
      for (const s of refusing) s.destroy();
      const open = [...bridges];
      const drained = Promise.all(open.map((b) => b.drain()));
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      const result = await Promise.race([drained, timedOut]);
      clearTimeout(timer);
      const cut = result === 'timeout' ? bridges.size : 0;
      // Clients normally close their side at once on GOAWAY and EOF; one that does not gets a short
      // linger for the last answers, then whatever is still open goes.
      await Promise.race([Promise.all(open.map((b) => b.finished)), sleep(CLOSE_LINGER_MS)]);
      for (const b of open) b.close();
      await closed;
      return cut;
    },
  };
}

/**
 * Answers a connection over the cap: criguard's SETTINGS, then GOAWAY (ENHANCE_YOUR_CALM) with a reason a
 * gRPC client logs, then close; nothing of the client is read.
 */
function refuseConnection(client: Socket): void {
  client.on('error', () => undefined);
  client.resume(); // read and drop: closing with unread input could reset the socket before it is read
  client.end(
    Buffer.concat([
      encodeSettings(),
      encodeGoaway(0, ErrorCode.ENHANCE_YOUR_CALM, 'criguard: too many connections'),
    ]),
  );
  setTimeout(() => client.destroy(), 1000).unref();
}

/** Logs refused connections at most once per 10 s, with how many were refused meanwhile. */
function refusalReporter(logger: BridgeLogger, limit: number): { refused(): void } {
  let count = 0;
  let last = 0;
  return {
    refused() {
      count += 1;
      const now = Date.now();
      if (now - last < 10_000) return;
      last = now;
      logger.warn({ refused: count, maxConnections: limit }, 'connection refused: too many connections');
      count = 0;
    },
  };
}
