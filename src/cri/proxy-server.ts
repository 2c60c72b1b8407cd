import { connect, createServer, type Socket } from 'node:net';
import { bindListenSocket, type InheritedSocket } from './listen-socket.js';
import type { Route } from './routes.js';
import { ConnectionBridge, type BridgeLimits, type BridgeLogger } from './transport/connection-bridge.js';

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
  readonly limits: BridgeLimits;
  readonly onUpstreamUnavailable?: () => void;
}

export interface ProxyServer {
  /** Client connections currently open. */
  readonly connections: number;
  /**
   * Stops accepting, asks clients to go away (GOAWAY), waits up to `timeoutMs` for unary calls in flight,
   * then closes everything and removes the socket file if criguard created it. Resolves to the number of connections cut.
   */
  stop(timeoutMs: number): Promise<number>;
}

export { SocketSetupError } from './listen-socket.js';

export const DEFAULT_LIMITS: BridgeLimits = Object.freeze({
  maxHeaderListSize: 1024 * 1024,
  maxMessageSize: 16 * 1024 * 1024,
  maxStreams: 10_000,
});

/**
 * Starts the CRI proxy: listens (on the inherited socket, or on one it creates: see `bindListenSocket`)
 * and bridges each client connection to its own upstream connection.
 */
export async function startProxyServer(options: ProxyServerOptions): Promise<ProxyServer> {
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
  const socket = await bindListenSocket(server, {
    path: options.listenPath,
    mode: options.socketMode,
    inherited: options.inheritedSocket,
  });

  return {
    get connections() {
      return bridges.size;
    },
    async stop(timeoutMs) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      socket.release();
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
