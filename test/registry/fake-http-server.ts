/** A tiny node:http server for registry faults the real registry cannot produce. */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the fake saw. */
export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
}

export interface FakeServer {
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  readonly seen: SeenRequest[];
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1 (free port) answering with `handler`; closes all connections on close(). */
export async function startFakeServer(
  handler: (req: IncomingMessage, res: ServerResponse, seen: SeenRequest[]) => void | Promise<void>,
): Promise<FakeServer> {
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    Promise.resolve(handler(req, res, seen)).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
