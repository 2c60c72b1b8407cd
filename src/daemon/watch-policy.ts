import type { ServeConfig } from '../config/serve-config.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { createPolicyStore, type PolicyStore } from '../policy-files/policy-store.js';
import type { PolicyWarning } from '../policy/warnings.js';

/**
 * Loads the policy files at `policyPath` and keeps watching them (every second, and on `reload()`): each
 * reload is counted in the metrics and logged; a failed one keeps the last good policy. Resolves to
 * undefined when the files are invalid at start (logged as fatal: the daemon must not start then).
 */
export async function watchPolicy(
  config: ServeConfig,
  policyPath: string,
  logger: Logger,
  metrics: Pick<Metrics, 'policyLoaded'>,
): Promise<PolicyStore | undefined> {
  let store: PolicyStore | undefined;
  try {
    store = await createPolicyStore({
      policyPath,
      attestorsDir: config.attestorsDir,
      trustedRootPath: config.trustedRoot,
      cluster: config.cluster,
      requireOwner: process.geteuid?.() ?? 0,
      pollMs: 1000,
      onReload: (r) => {
        metrics.policyLoaded(r.revision, r.error === undefined, Date.now());
        if (r.error) {
          logger.error(
            { err: r.error.message, revision: r.revision },
            'policy reload failed; keeping the last good policy',
          );
        } else if (r.changed) {
          logger.info({ revision: r.revision }, 'policy reloaded');
          logPolicyWarnings(logger, store?.current().warnings ?? []);
        }
      },
    });
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'invalid policy: refusing to start');
    return undefined;
  }
  metrics.policyLoaded(store.current().revision, true, Date.now());
  return store;
}

/** One warning per policy field that is accepted but has no effect on this node (`policyWarnings`). */
export function logPolicyWarnings(logger: Logger, warnings: readonly PolicyWarning[]): void {
  for (const w of warnings) {
    logger.warn({ file: w.source, field: w.path, problem: w.message }, 'policy field has no effect');
  }
}
