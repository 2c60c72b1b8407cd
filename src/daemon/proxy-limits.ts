import type { ServeConfig } from '../config/serve-config.js';
import { DEFAULT_LIMITS, type ProxyLimits } from '../cri/proxy-server.js';

/** The proxy's limits: the defaults, with the connection settings of `serve` (seconds and MiB converted). */
export function proxyLimits(config: ServeConfig): ProxyLimits {
  return {
    ...DEFAULT_LIMITS,
    maxConnections: config.connections.max,
    prefaceTimeoutMs: config.connections.prefaceTimeoutSeconds * 1000,
    idleTimeoutMs: config.connections.idleTimeoutSeconds * 1000,
    maxHeldBytes: config.connections.maxHeldMiB * 1024 * 1024,
    maxHeldBytesTotal: config.connections.maxHeldTotalMiB * 1024 * 1024,
  };
}
