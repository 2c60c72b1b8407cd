import { dirname } from 'node:path';
import { watchDirectory } from '../files/watch-directory.js';
import { DEFAULT_MAX_WINDOW_MS } from './defaults.js';
import { loadBreakglass } from './load.js';
import type { BreakglassRequest } from './scope.js';
import {
  evaluateBreakglass,
  grantBreakglass,
  type BreakglassGrant,
  type BreakglassStatus,
  type LoadedBreakglass,
} from './status.js';

/** Options of createBreakglassMonitor. */
export interface BreakglassMonitorOptions {
  /** The breakglass file, usually `/etc/criguard/breakglass.yaml`. */
  readonly path: string;
  /** Longest allowed distance from now to `expiresAt`; default 24 h. */
  readonly maxWindowMs?: number;
  /** Milliseconds since the epoch; default Date.now. Used for onChange evaluations only. */
  readonly clock?: () => number;
  /** Owner the file and its directory must have; default 0 (root). */
  readonly expectedUid?: number;
  /** Period of the re-check that backs up fs.watch; default 1000 ms. */
  readonly recheckMs?: number;
  /**
   * Called with the new status whenever it changes (activated, deactivated, expired, became invalid,
   * replaced by a file with another hash). Not called for the initial state: read `status()` after
   * creating the monitor. Must not throw; an exception is swallowed so the monitor keeps running.
   */
  readonly onChange?: (status: BreakglassStatus) => void;
}

/** A live view of one breakglass file. */
export interface BreakglassMonitor {
  /**
   * The grant for `request` at `now` (checked at every call, so a grant stops at its expiry without any
   * file event), or undefined: absent, expired, invalid, outside the scope, or the monitor is closed.
   * Never throws; fail closed.
   */
  grantFor(request: BreakglassRequest, now: number): BreakglassGrant | undefined;
  /** The status at `now` of the file as last read. Never throws. */
  status(now: number): BreakglassStatus;
  /** Re-reads the file immediately (fires onChange if the status changed); returns the status at clock(). */
  refresh(): BreakglassStatus;
  /** Stops watching and re-checking; grantFor returns undefined from then on. */
  close(): void;
}

/**
 * Watches a breakglass file: reads it at creation (synchronously), then again on every fs.watch event on its
 * directory (so atomic renames, replacement and deletion are seen) and every `recheckMs` (so a missed event,
 * a recreated directory or an expiry is noticed within about a second). Each read goes through
 * readBreakglassFile's safety checks; an unsafe or invalid file is ignored as a whole. An unchanged file is
 * not re-parsed. Timers and the watcher do not keep the process alive.
 */
export function createBreakglassMonitor(options: BreakglassMonitorOptions): BreakglassMonitor {
  const path = options.path;
  const dir = dirname(path);
  const maxWindowMs = options.maxWindowMs ?? DEFAULT_MAX_WINDOW_MS;
  const clock = options.clock ?? Date.now;
  const readOptions = { expectedUid: options.expectedUid ?? 0 };
  let loaded: LoadedBreakglass = loadBreakglass(path, readOptions);
  let closed = false;
  let lastFingerprint = fingerprint(evaluateBreakglass(loaded, clock(), maxWindowMs));

  function check(): BreakglassStatus {
    loaded = loadBreakglass(path, readOptions, loaded);
    return notify();
  }

  function notify(): BreakglassStatus {
    const status = evaluateBreakglass(loaded, clock(), maxWindowMs);
    const print = fingerprint(status);
    if (print !== lastFingerprint) {
      lastFingerprint = print;
      try {
        options.onChange?.(status);
      } catch {
        // The callback belongs to the caller; a throwing logger must not stop breakglass re-checks.
      }
    }
    return status;
  }

  const watching = watchDirectory(dir, options.recheckMs ?? 1000, () => {
    check();
  });

  return Object.freeze({
    grantFor(request: BreakglassRequest, now: number): BreakglassGrant | undefined {
      if (closed) return undefined;
      return grantBreakglass(loaded, request, now, maxWindowMs);
    },
    status(now: number): BreakglassStatus {
      return evaluateBreakglass(loaded, now, maxWindowMs);
    },
    refresh(): BreakglassStatus {
      return check();
    },
    close(): void {
      closed = true;
      watching.close();
    },
  });
}

function fingerprint(status: BreakglassStatus): string {
  return [status.state, status.problem?.code ?? '', status.fileSha256 ?? '', status.expiresAt ?? ''].join(
    '|',
  );
}
