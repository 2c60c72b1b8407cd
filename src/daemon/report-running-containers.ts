import { startRevalidation, type ContainerLister, type Revalidate } from '../admission/revalidation.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';

/**
 * Re-validates running containers every `intervalSeconds` (and once at start): the counts go to the
 * metrics; quarantined images running are logged as errors, other violations as a warning. `runNow()`
 * asks for a run at once (a quarantine change) and never rejects; `stop()` ends it.
 */
export function reportRunningContainers(options: {
  readonly lister: ContainerLister;
  readonly revalidate: Revalidate;
  readonly intervalSeconds: number;
  readonly logger: Logger;
  readonly metrics: Pick<Metrics, 'setViolations' | 'setQuarantinedRunning'>;
}): { runNow(): void; stop(): void } {
  const { logger, metrics } = options;
  const revalidation = startRevalidation({
    lister: options.lister,
    revalidate: options.revalidate,
    intervalMs: options.intervalSeconds * 1000,
    onResult: (r) => {
      metrics.setViolations(r.violations);
      metrics.setQuarantinedRunning(r.quarantined);
      if (r.quarantined > 0) {
        logger.error(
          { quarantined: r.quarantined, containers: r.quarantinedContainers },
          'QUARANTINED IMAGES RUNNING: stop or replace these containers',
        );
      }
      if (r.violations > 0)
        logger.warn(
          { checked: r.checked, violations: r.violations },
          'running containers the current policy would not admit',
        );
    },
    onError: (err) => logger.warn({ err: err.message }, 're-validation of running containers failed'),
  });
  return {
    runNow: () =>
      void revalidation
        .runNow()
        .catch((err: unknown) =>
          logger.warn({ err: (err as Error).message }, 're-validation of running containers failed'),
        ),
    stop: () => revalidation.stop(),
  };
}
