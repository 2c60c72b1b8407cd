import type { BreakglassMonitor } from '../breakglass/monitor.js';
import type { VerdictCache } from '../cache/verdict-cache.js';
import type { ServeConfig } from '../config/serve-config.js';
import type { HealthChecks } from '../metrics/http-endpoint.js';
import type { PolicyStore } from '../policy-files/policy-store.js';
import type { CompiledPolicy } from '../policy/types.js';
import type { QuarantineMonitor } from '../quarantine/monitor.js';
import { criguardVersion } from '../version.js';

/** What `/readyz` and `/status` report on. Absent monitors and policy mean the daemon enforces nothing. */
export interface HealthSubjects {
  readonly config: ServeConfig;
  readonly containerd: { ping(): Promise<boolean> };
  readonly policyStore: PolicyStore | undefined;
  /** The policy in force (sandbox image facts applied); set whenever `policyStore` is. */
  readonly policyInForce: (() => CompiledPolicy) | undefined;
  readonly cache: VerdictCache;
  readonly proxy: { readonly connections: number };
  readonly breakglass: BreakglassMonitor | undefined;
  readonly quarantine: QuarantineMonitor | undefined;
}

/**
 * Readiness (a configured policy is loaded and containerd answers) and the daemon's state for
 * `criguard status`: version, policy revision, verdict cache, connections, breakglass and quarantine.
 */
export function healthChecks(s: HealthSubjects): HealthChecks {
  const { config, containerd, policyStore: store, policyInForce, cache, proxy } = s;
  return {
    async ready() {
      const upstream = await containerd.ping();
      const checks = {
        policy: store || config.policy === undefined ? 'ok' : 'missing',
        containerd: upstream ? 'ok' : 'unreachable',
      };
      return { ok: upstream && checks.policy === 'ok', checks };
    },
    async status() {
      return {
        version: criguardVersion,
        policy: store && policyInForce ? { file: config.policy, revision: policyInForce().revision } : null,
        enforcing: store !== undefined,
        verdictCache: { entries: cache.size, hits: cache.hits, misses: cache.misses },
        connections: proxy.connections,
        containerd: (await containerd.ping()) ? 'ok' : 'unreachable',
        breakglass: s.breakglass?.status(Date.now()) ?? { state: 'absent' },
        quarantine: s.quarantine?.status(Date.now()) ?? { state: 'absent' },
      };
    },
  };
}
