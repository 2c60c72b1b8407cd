import {
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import type { DecisionRecord } from '../admission/decision-record.js';
import type { DecisionSink } from '../admission/ports.js';

export interface AuditLog extends DecisionSink {
  /** Writes a non-decision event (e.g. a breakglass state change) as its own line: `{schema, time, node, event, ...}`. */
  event(event: string, fields: Record<string, unknown>): void;
  /** Reopens the file (after log rotation moved it; SIGUSR1). */
  reopen(): void;
  close(): void;
  /** Records written whole, and records lost (not written, or cut and removed). */
  readonly written: number;
  readonly failed: number;
}

/** The longest torn tail removed when the log is opened; past it the torn line is closed with a newline. */
const MAX_TAIL_SCAN_BYTES = 16 * 1024 * 1024;
const NEWLINE = 0x0a;

/**
 * The audit log: one JSON line per decision, appended synchronously (a record is on disk, or counted as
 * failed, before the decision is answered), to `path` (0600, parent 0700 if created) or to stdout when
 * `path` is "-". `node` is added to every record. Every record in the file is whole or absent: a write cut
 * short (full disk, I/O error) is truncated back to where the record began, and a torn last line found when
 * the file is opened (a crash mid-write) is removed; each lost record is counted in `failed` and reported
 * through `onError`. On stdout, which cannot be truncated, a cut record's fragment is ended with a newline
 * before the next record, so every later record is still a line of its own. The path must be a regular file (a FIFO or device is refused, never waited on). A
 * failing sink never changes a decision. Records hold no credentials by construction.
 */
export function createAuditLog(options: {
  readonly path: string;
  readonly node: string;
  readonly onError: (err: Error) => void;
}): AuditLog {
  const toFile = options.path !== '-';
  let fd: number | undefined;
  /** A cut record could not be truncated away: repair the tail before the next write. */
  let torn = false;
  let written = 0;
  let failed = 0;

  const lost = (err: Error) => {
    failed += 1;
    options.onError(err);
  };

  const open = (): number => {
    if (!toFile) return 1;
    mkdirSync(dirname(options.path), { recursive: true, mode: 0o700 });
    const flags = constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK;
    const opened = openSync(options.path, flags, 0o600);
    try {
      if (!fstatSync(opened).isFile()) throw new Error(`${options.path} is not a regular file; not written`);
      removeTornTail(opened);
    } catch (err) {
      closeSync(opened);
      throw err;
    }
    return opened;
  };

  /** Cuts an unterminated last line (a record torn by a crash or an earlier failed write). */
  const removeTornTail = (descriptor: number): void => {
    torn = false;
    const size = fstatSync(descriptor).size;
    if (size === 0 || byteAt(descriptor, size - 1) === NEWLINE) return;
    const end = lastNewline(descriptor, size);
    if (end === undefined) {
      writeWhole(descriptor, Buffer.from('\n')); // too far back to look: close the torn line instead
      lost(new Error(`audit log ${options.path} ended in a torn record; closed it with a newline`));
      return;
    }
    ftruncateSync(descriptor, end);
    lost(new Error(`audit log ${options.path}: removed a torn record (${size - end} bytes) at its end`));
  };

  const write = (value: object) => {
    let line = Buffer.from(`${JSON.stringify(value)}\n`);
    let start: number | undefined;
    try {
      fd ??= open();
      if (toFile) {
        if (torn) removeTornTail(fd);
        start = fstatSync(fd).size;
      } else if (torn) {
        // stdout cannot be truncated: end the cut fragment so that this record starts a line of its own.
        line = Buffer.concat([Buffer.from('\n'), line]);
      }
      writeWhole(fd, line);
      torn = false;
      written += 1;
    } catch (err) {
      if (fd !== undefined && start !== undefined) {
        try {
          ftruncateSync(fd, start);
        } catch {
          torn = true;
        }
      } else if (!toFile && ((err as { bytesWritten?: number }).bytesWritten ?? 0) > 0) torn = true;
      lost(err as Error);
    }
  };

  try {
    fd = open();
  } catch (err) {
    options.onError(err as Error);
  }

  return {
    record(record: DecisionRecord) {
      write({ ...record, node: options.node });
    },
    event(event, fields) {
      write({ schema: 1, time: new Date().toISOString(), node: options.node, event, ...fields });
    },
    reopen() {
      if (!toFile) return;
      try {
        if (fd !== undefined) closeSync(fd);
      } catch {
        /* already closed */
      }
      fd = undefined;
      try {
        fd = open();
      } catch (err) {
        options.onError(err as Error);
      }
    },
    close() {
      if (fd !== undefined && fd !== 1) closeSync(fd);
      fd = undefined;
    },
    get written() {
      return written;
    },
    get failed() {
      return failed;
    },
  };
}

/**
 * Writes all of `bytes` (writeSync may write part of them); throws the error that stopped it, with
 * `bytesWritten` set to what did get written.
 */
function writeWhole(fd: number, bytes: Buffer): void {
  let offset = 0;
  try {
    while (offset < bytes.length) {
      const n = writeSync(fd, bytes, offset, bytes.length - offset);
      if (n <= 0) throw Object.assign(new Error('audit write made no progress'), { code: 'EIO' });
      offset += n;
    }
  } catch (err) {
    throw Object.assign(err as Error, { bytesWritten: offset });
  }
}

function byteAt(fd: number, position: number): number {
  const one = Buffer.alloc(1);
  return readSync(fd, one, 0, 1, position) === 1 ? one[0]! : -1;
}

/** Offset just after the last newline before `size`, 0 when there is none; undefined if beyond the scan bound. */
function lastNewline(fd: number, size: number): number | undefined {
  const chunk = Buffer.alloc(64 * 1024);
  let end = size;
  while (end > 0) {
    if (size - end >= MAX_TAIL_SCAN_BYTES) return undefined;
    const start = Math.max(0, end - chunk.length);
    const n = readSync(fd, chunk, 0, end - start, start);
    const at = chunk.subarray(0, n).lastIndexOf(NEWLINE);
    if (at >= 0) return start + at + 1;
    end = start;
  }
  return 0;
}
