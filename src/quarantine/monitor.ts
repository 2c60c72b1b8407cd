import { dirname } from 'node:path';
import { watchDirectory } from '../files/watch-directory.js';
import type { QuarantineChange, QuarantineEntry } from './document.js';
import type { QuarantineSubject } from './match.js';
import type { QuarantineProblem } from './problems.js';
import { entryStatuses, loadQuarantine, type LoadedQuarantine, type QuarantineStatus } from './state.js';

/** Why an image is refused: a matching entry in force, or a quarantine list that cannot be trusted. */
export type QuarantineHit =
  | {
      readonly kind: 'entry';
      /** The entry as written (`sha256:…` or a name pattern). */
      readonly entry: string;
      /** What of the image matched: `digest:sha256:…` or `image:<name>[@digest]`. */
      readonly matched: string;
      readonly reason: string;
      readonly ticket: string | undefined;
      readonly addedBy: string | undefined;
      readonly expiresAt: string | undefined;
      /** `sha256:` of the file the entry comes from. */
      readonly fileSha256: string;
    }
  | { readonly kind: 'unknown'; readonly problem: QuarantineProblem; readonly file: string };

/** What changed between two trusted lists, for the audit log. */
export interface QuarantineListChange {
  readonly added: readonly QuarantineEntry[];
  readonly removed: readonly QuarantineEntry[];
  /** Who made the change, as the CLI recorded it in the new file (undefined for a hand edit or removal). */
  readonly lastChange: QuarantineChange | undefined;
}

export interface QuarantineMonitorOptions {
  /** The quarantine file, usually `/etc/criguard/quarantine.yaml`. */
  readonly path: string;
  /** Milliseconds since the epoch; default Date.now. Used for onChange evaluations only. */
  readonly clock?: () => number;
  /** Owner the file and its directory must have; default 0 (root). */
  readonly expectedUid?: number;
  /** Period of the re-check that backs up fs.watch; default 1000 ms. */
  readonly recheckMs?: number;
  /**
   * Called when the status changes (file replaced, removed, turned invalid, an entry expired), with what
   * changed in the trusted list. Not called for the initial state. Must not throw (an exception is
   * swallowed so the monitor keeps running).
   */
  readonly onChange?: (status: QuarantineStatus, change: QuarantineListChange) => void;
}

/** A live view of one quarantine file. */
export interface QuarantineMonitor {
  /**
   * Whether `subject` is quarantined at `now`: the matching entry in force of the trusted list, or, while
   * the file is invalid and no good list was ever read, `unknown` for every image. Expiry is applied at
   * every call. Never throws.
   */
  check(subject: QuarantineSubject, now: number): QuarantineHit | undefined;
  /** True when a check could deny anything at `now` (an entry in force, or every image denied). */
  inForce(now: number): boolean;
  status(now: number): QuarantineStatus;
  /** Re-reads the file now (fires onChange if the status changed); returns the status at clock(). */
  refresh(): QuarantineStatus;
  close(): void;
}

const NO_CHANGE: QuarantineListChange = Object.freeze({ added: [], removed: [], lastChange: undefined });

/**
 * Watches a quarantine file as the breakglass monitor does (fs.watch on the directory plus a re-check every
 * `recheckMs`: changes apply within about a second). Unlike a breakglass, an invalid or unsafe file never
 * narrows anything (ADR 0056): the last trusted list (a valid file, or no file) stays in force; when the
 * file has been invalid since start there is no trusted list, and every image is refused until it is
 * fixed. Timers and the watcher do not keep the process alive.
 */
export function createQuarantineMonitor(options: QuarantineMonitorOptions): QuarantineMonitor {
  const path = options.path;
  const dir = dirname(path);
  const clock = options.clock ?? Date.now;
  const readOptions = { expectedUid: options.expectedUid ?? 0 };
  let current: LoadedQuarantine = loadQuarantine(path, readOptions);
  /** The last trusted list (valid or absent); undefined while the file has been invalid since start. */
  let trusted: Exclude<LoadedQuarantine, { kind: 'invalid' }> | undefined =
    current.kind === 'invalid' ? undefined : current;
  let lastFingerprint = fingerprint(statusAt(clock()));

  function statusAt(now: number): QuarantineStatus {
    const entries = trusted ? entryStatuses(trusted, now) : [];
    const inForce = entries.filter((e) => e.inForce).length;
    if (current.kind === 'invalid') {
      return Object.freeze({
        state: 'invalid',
        entries,
        inForce,
        denyAll: trusted === undefined,
        problem: current.problem,
        ...(current.fileSha256 !== undefined && { fileSha256: current.fileSha256 }),
        ...(trusted?.kind === 'valid' && { keptFileSha256: trusted.fileSha256 }),
      });
    }
    return Object.freeze({
      state: current.kind,
      entries,
      inForce,
      denyAll: false,
      ...(current.kind === 'valid' && { fileSha256: current.fileSha256 }),
    });
  }

  function check(): QuarantineStatus {
    const before = trusted;
    current = loadQuarantine(path, readOptions, current);
    if (current.kind !== 'invalid') trusted = current;
    const status = statusAt(clock());
    const print = fingerprint(status);
    if (print !== lastFingerprint) {
      lastFingerprint = print;
      try {
        options.onChange?.(status, before === trusted ? NO_CHANGE : diff(before, trusted));
      } catch {
        // The callback belongs to the caller; a throwing logger must not stop quarantine re-checks.
      }
    }
    return status;
  }

  const watching = watchDirectory(dir, options.recheckMs ?? 1000, () => {
    check();
  });

  return Object.freeze({
    check(subject: QuarantineSubject, now: number): QuarantineHit | undefined {
      if (trusted === undefined && current.kind === 'invalid') {
        return Object.freeze({ kind: 'unknown', problem: current.problem, file: path });
      }
      if (trusted?.kind !== 'valid') return undefined;
      const hit = trusted.matcher.match(subject, now);
      if (!hit) return undefined;
      const e = hit.entry;
      return Object.freeze({
        kind: 'entry',
        entry: e.image,
        matched: hit.matched,
        reason: e.reason,
        ticket: e.ticket,
        addedBy: e.addedBy,
        expiresAt: e.expiresAt,
        fileSha256: trusted.fileSha256,
      });
    },
    inForce(now: number): boolean {
      if (trusted === undefined) return current.kind === 'invalid';
      return trusted.kind === 'valid' && trusted.matcher.inForce(now).length > 0;
    },
    status: statusAt,
    refresh: check,
    close(): void {
      watching.close();
    },
  });
}

function diff(
  before: Exclude<LoadedQuarantine, { kind: 'invalid' }> | undefined,
  after: Exclude<LoadedQuarantine, { kind: 'invalid' }> | undefined,
): QuarantineListChange {
  const entries = (l: typeof before) => (l?.kind === 'valid' ? l.document.entries : []);
  const old = new Map(entries(before).map((e) => [e.image, e]));
  const now = new Map(entries(after).map((e) => [e.image, e]));
  return Object.freeze({
    // An entry written again (new reason, ticket or expiry) counts as added: the record shows its new terms.
    added: [...now.values()].filter((e) => !sameEntry(old.get(e.image), e)),
    removed: [...old.values()].filter((e) => !now.has(e.image)),
    lastChange: after?.kind === 'valid' ? after.document.lastChange : undefined,
  });
}

function sameEntry(a: QuarantineEntry | undefined, b: QuarantineEntry): boolean {
  return (
    a !== undefined &&
    a.reason === b.reason &&
    a.ticket === b.ticket &&
    a.expiresAt === b.expiresAt &&
    a.addedBy === b.addedBy &&
    a.addedAt === b.addedAt
  );
}

function fingerprint(status: QuarantineStatus): string {
  return [status.state, status.problem?.code ?? '', status.fileSha256 ?? '', status.inForce].join('|');
}
