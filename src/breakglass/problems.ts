import type { Codes } from '../errors/criguard-error.js';

/**
 * Stable codes for why a breakglass file is not honoured. Every one of them means "ignored as a whole:
 * enforcement stays on"; the daemon logs, alerts and audits the code.
 */
export type BreakglassProblemCode = Codes<
  /** The path is a symbolic link (refused by O_NOFOLLOW). */
  | 'CG_ERR_BREAKGLASS_SYMLINK'
  /** The file has more than one hard link. */
  | 'CG_ERR_BREAKGLASS_HARDLINK'
  /** Not a regular file (directory, FIFO, device, socket). */
  | 'CG_ERR_BREAKGLASS_NOT_REGULAR'
  /** The file is not owned by the expected uid (root). */
  | 'CG_ERR_BREAKGLASS_OWNER'
  /** The file is group- or world-writable. */
  | 'CG_ERR_BREAKGLASS_MODE'
  /** Its directory is a symlink, not owned by the expected uid, or group-/world-writable. */
  | 'CG_ERR_BREAKGLASS_DIR_UNSAFE'
  /** Larger than the size bound. */
  | 'CG_ERR_BREAKGLASS_TOO_LARGE'
  /** The file exists but could not be opened or read (I/O error, permission). */
  | 'CG_ERR_BREAKGLASS_UNREADABLE'
  /** No end marker (`end: true`, the last field): the file may be half-written, or predates the marker. */
  | 'CG_ERR_BREAKGLASS_INCOMPLETE'
  /** Not UTF-8, not YAML/JSON, unknown or missing field, bad value, empty scope. */
  | 'CG_ERR_BREAKGLASS_PARSE'
  /** `expiresAt` is now or in the past. */
  | 'CG_ERR_BREAKGLASS_EXPIRED'
  /** `expiresAt` is further in the future than the maximum window allows. */
  | 'CG_ERR_BREAKGLASS_TOO_LONG'
>;

/** Why a breakglass file is ignored: a stable code and a message for humans (with field paths). */
export interface BreakglassProblem {
  readonly code: BreakglassProblemCode;
  readonly message: string;
}

/** A frozen BreakglassProblem. */
export function toProblem(code: BreakglassProblemCode, message: string): BreakglassProblem {
  return Object.freeze({ code, message });
}
