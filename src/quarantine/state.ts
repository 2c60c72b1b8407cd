import { parseQuarantineDocument, type QuarantineDocument, type QuarantineEntry } from './document.js';
import { createQuarantineMatcher, type QuarantineMatcher } from './match.js';
import type { QuarantineProblem } from './problems.js';
import { readQuarantineFile } from './read-file.js';

/** The quarantine file as last read. */
export type LoadedQuarantine =
  | { readonly kind: 'absent' }
  | { readonly kind: 'invalid'; readonly problem: QuarantineProblem; readonly fileSha256: string | undefined }
  | {
      readonly kind: 'valid';
      readonly document: QuarantineDocument;
      readonly matcher: QuarantineMatcher;
      readonly fileSha256: string;
    };

/**
 * Reads (through one descriptor, with the breakglass file's checks) and parses the quarantine file.
 * `previous` lets an unchanged file (same hash) keep its parsed document. Never throws.
 */
export function loadQuarantine(
  path: string,
  options: { expectedUid?: number } = {},
  previous?: LoadedQuarantine,
): LoadedQuarantine {
  const read = readQuarantineFile(path, options);
  if (read.kind === 'absent') return ABSENT;
  if (read.kind === 'unsafe')
    return Object.freeze({ kind: 'invalid', problem: read.problem, fileSha256: undefined });
  if (previous?.kind === 'valid' && previous.fileSha256 === read.sha256) return previous;
  const parsed = parseQuarantineDocument(read.bytes);
  return parsed.ok
    ? Object.freeze({
        kind: 'valid',
        document: parsed.document,
        matcher: createQuarantineMatcher(parsed.document.entries),
        fileSha256: read.sha256,
      })
    : Object.freeze({ kind: 'invalid', problem: parsed.problem, fileSha256: read.sha256 });
}

const ABSENT: LoadedQuarantine = Object.freeze({ kind: 'absent' });

/** One entry as status output shows it. */
export interface QuarantineEntryStatus {
  readonly image: string;
  readonly kind: QuarantineEntry['kind'];
  readonly reason: string;
  readonly ticket?: string;
  readonly addedBy?: string;
  readonly addedAt?: string;
  readonly expiresAt?: string;
  /** False once `expiresAt` has passed (the entry no longer denies anything). */
  readonly inForce: boolean;
}

/** What `criguard quarantine list`, `/status` and the daemon's log show. */
export interface QuarantineStatus {
  /**
   * `absent`: no file, nothing quarantined; `valid`: the file's entries are in force; `invalid`: the file is
   * not trusted; the last good list stays in force, or, when there was none, every image is denied.
   */
  readonly state: 'absent' | 'valid' | 'invalid';
  /** The entries in force (for `invalid`: those of the last good file). */
  readonly entries: readonly QuarantineEntryStatus[];
  /** Entries not expired. */
  readonly inForce: number;
  /** `invalid` with no good list since start: every pull and create is denied until the file is fixed. */
  readonly denyAll: boolean;
  readonly problem?: QuarantineProblem;
  /** `sha256:` of the file as read (when its bytes could be read). */
  readonly fileSha256?: string;
  /** `invalid`: the hash of the last good file whose entries stay in force (absent: it was an empty list). */
  readonly keptFileSha256?: string;
}

/** The entries of a valid file as status shows them at `now`. */
export function entryStatuses(loaded: LoadedQuarantine, now: number): QuarantineEntryStatus[] {
  if (loaded.kind !== 'valid') return [];
  return loaded.document.entries.map((e) => ({
    image: e.image,
    kind: e.kind,
    reason: e.reason,
    ...(e.ticket !== undefined && { ticket: e.ticket }),
    ...(e.addedBy !== undefined && { addedBy: e.addedBy }),
    ...(e.addedAt !== undefined && { addedAt: e.addedAt }),
    ...(e.expiresAt !== undefined && { expiresAt: e.expiresAt }),
    inForce: e.expiresAtMs === undefined || now < e.expiresAtMs,
  }));
}
