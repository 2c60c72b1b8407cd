import type { Codes } from '../errors/criguard-error.js';
/**
 * Stable codes for why a quarantine file is not read. Every one of them means "the file is not trusted":
 * the last good list stays in force (or, when there was none since start, every image is denied), and
 * the daemon logs, alerts and audits the code. The file checks are the breakglass file's
 * (docs/breakglass.md), under the quarantine's own prefix.
 */
export type QuarantineProblemCode = Codes<
  | 'CG_ERR_QUARANTINE_SYMLINK'
  | 'CG_ERR_QUARANTINE_HARDLINK'
  | 'CG_ERR_QUARANTINE_NOT_REGULAR'
  | 'CG_ERR_QUARANTINE_OWNER'
  | 'CG_ERR_QUARANTINE_MODE'
  | 'CG_ERR_QUARANTINE_DIR_UNSAFE'
  | 'CG_ERR_QUARANTINE_TOO_LARGE'
  | 'CG_ERR_QUARANTINE_UNREADABLE'
  /** No end marker (`end: true`, the last field): the file may be half-written. */
  | 'CG_ERR_QUARANTINE_INCOMPLETE'
  /** Not UTF-8, not YAML/JSON, unknown or missing field, bad value, duplicate entry. */
  | 'CG_ERR_QUARANTINE_PARSE'
>;

/** Why a quarantine file is not trusted: a stable code and a message for humans (with field paths). */
export interface QuarantineProblem {
  readonly code: QuarantineProblemCode;
  readonly message: string;
}

/** A frozen QuarantineProblem. */
export function quarantineProblem(code: QuarantineProblemCode, message: string): QuarantineProblem {
  return Object.freeze({ code, message });
}
