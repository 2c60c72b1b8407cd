import type { VerdictCache } from '../cache/verdict-cache.js';
import { createVerdictStore } from '../cache/verdict-store.js';
import type { ServeConfig } from '../config/serve-config.js';
import type { Logger } from '../log/logger.js';
import type { Closer } from './closers.js';

/**
 * Loads persisted verdicts now, saves them every 10 s when they changed since the last save, and at stop;
 * returns the stop hook. A discarded file calls `rejected`. (A save holds the event loop: ~50 ms per
 * 10,000 entries, docs/operations.md.)
 */
export function persistVerdicts(
  config: ServeConfig,
  cache: VerdictCache,
  logger: Logger,
  rejected: () => void,
): Closer {
  const store = createVerdictStore(config.stateDir);
  const loaded = store.load();
  if (loaded.problem) {
    rejected();
    logger.error({ file: store.path, problem: loaded.problem }, 'persisted verdicts discarded');
  }
  logger.info({ verdicts: cache.restore(loaded.entries) }, 'verdict cache loaded');
  let lastError: string | undefined;
  let saved = cache.changes;
  let saving: Promise<void> | undefined;
  const failed = (err: unknown) => {
    const message = (err as Error).message;
    if (message !== lastError) logger.error({ err: message }, 'cannot persist verdicts');
    lastError = message;
  };
  const done = (changes: number) => {
    saved = changes;
    lastError = undefined;
  };
  const timer = setInterval(() => {
    if (cache.changes === saved || saving !== undefined) return;
    const changes = cache.changes;
    try {
      saving = store
        .saveInBackground(cache.entries())
        .then(() => done(changes), failed)
        .finally(() => (saving = undefined));
    } catch (err) {
      failed(err);
    }
  }, 10_000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await saving;
    if (cache.changes === saved) return;
    try {
      const changes = cache.changes;
      store.save(cache.entries());
      done(changes);
    } catch (err) {
      failed(err);
    }
  };
}
