import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { CriguardError } from '../errors/criguard-error.js';

export interface HealthChecks {
  /** Readiness: policy loaded (when one is configured) and containerd answering. */
  ready(): Promise<{ ok: boolean; checks: Record<string, string> }>;
  /** The daemon's state for `criguard status`. */
  status(): Promise<Record<string, unknown>>;
}

/**
 * Serves `/metrics` (Prometheus text), `/healthz` (alive), `/readyz` (200 or 503 with the failing check)
 * and `/status` (JSON) on `address` (`host:port`; loopback by default). GET only; nothing else is served.
 */
export async function startHttpEndpoint(
  address: string,
  registry: Registry,
  health: HealthChecks,
): Promise<Server> {
  const { host, port } = splitAddress(address);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    const reply = async (): Promise<void> => {
      switch (path) {
        case '/metrics':
          res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
          return;
        case '/healthz':
          res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
          return;
        case '/readyz': {
          const { ok, checks } = await health.ready();
          res
            .writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
            .end(`${JSON.stringify(checks)}\n`);
          return;
        }
        case '/status':
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(`${JSON.stringify(await health.status())}\n`);
          return;
        default:
          res.writeHead(404).end();
      }
    };
    reply().catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

/** `host:port` or `[v6]:port` → parts; throws CG_ERR_CONFIG for anything else. */
export function splitAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:]+)):(\d{1,5})$/.exec(address);
  const port = Number(m?.[3]);
  if (!m || port > 65535) {
    throw new CriguardError('CG_ERR_CONFIG', `"${address}" is not host:port`);
  }
  return { host: m[1] ?? m[2]!, port };
}
