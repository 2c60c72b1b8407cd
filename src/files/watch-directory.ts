import { lstatSync, watch, type FSWatcher } from 'node:fs';

/** How long a burst of directory events is gathered before one re-check. */
const DEBOUNCE_MS = 25;

/**
 * Calls `recheck` shortly after anything in `dir` changes (inotify, re-armed when the directory is
 * replaced by another inode) and every `recheckMs` whatever happens, so a missed event or an unavailable
 * watcher (directory gone, inotify limits) delays a change by at most `recheckMs`. Timers and the watcher
 * do not keep the process alive. `close` stops both; `recheck` is not called after it.
 */
export function watchDirectory(dir: string, recheckMs: number, recheck: () => void): { close(): void } {
  let closed = false;
  let watcher: FSWatcher | undefined;
  let watchedIno: number | undefined;
  let debounce: NodeJS.Timeout | undefined;

  function ensureWatcher(): void {
    let ino: number | undefined;
    try {
      ino = lstatSync(dir).ino;
    } catch {
      ino = undefined;
    }
    if (watcher && ino === watchedIno) return;
    watcher?.close();
    watcher = undefined;
    watchedIno = undefined;
    if (ino === undefined) return;
    try {
      const w = watch(dir, { persistent: false }, () => schedule());
      w.on('error', () => {
        w.close();
        if (watcher === w) watcher = undefined;
      });
      watcher = w;
      watchedIno = ino;
    } catch {
      // No watcher: the periodic re-check still applies changes.
    }
  }

  function schedule(): void {
    if (closed || debounce) return;
    debounce = setTimeout(() => {
      debounce = undefined;
      if (!closed) recheck();
    }, DEBOUNCE_MS);
    debounce.unref();
  }

  ensureWatcher();
  const timer = setInterval(() => {
    if (closed) return;
    ensureWatcher();
    recheck();
  }, recheckMs);
  timer.unref();

  return {
    close(): void {
      closed = true;
      clearInterval(timer);
      if (debounce) clearTimeout(debounce);
      watcher?.close();
      watcher = undefined;
    },
  };
}
