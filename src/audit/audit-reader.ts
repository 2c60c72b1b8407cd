import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { z } from 'zod';

/** Default bound on the bytes read from the end of an audit log. */
export const DEFAULT_AUDIT_READ_BYTES = 128 * 1024 * 1024;
/** Default bound on one line; a longer line is skipped and counted, never parsed. */
export const DEFAULT_AUDIT_LINE_BYTES = 1024 * 1024;

const text = (max: number) => z.string().max(max);
const imageDecision = z.object({
  image: text(4096),
  imageName: text(1024).optional(),
  digests: z.array(text(200)).max(64),
  outcome: z.enum(['allow', 'deny']),
  reason: text(128),
});

/**
 * The part of an audit record (docs/audit.md, schema 1) that replaying a decision needs. Other fields are
 * ignored; a line that lacks one of these, or has one of the wrong type or size, is malformed.
 */
const replayableRecord = z.object({
  schema: z.literal(1),
  time: text(64),
  method: z.enum(['PullImage', 'CreateContainer', 'Revalidation']),
  image: text(4096),
  imageName: text(1024).optional(),
  digests: z.array(text(200)).max(64),
  pod: z.object({ namespace: text(253), name: text(253), uid: text(128) }),
  outcome: z.enum(['allow', 'deny']),
  reason: text(128),
  images: z.array(imageDecision).max(64).optional(),
});

/** One decision read back from the audit log. */
export type AuditedDecision = z.infer<typeof replayableRecord>;

/** What reading the log found: every line is counted in exactly one of the line counters. */
export interface AuditReadStats {
  readonly file: string;
  /** Size of the file when it was opened. */
  readonly fileBytes: number;
  /** Bytes read (the last `maxBytes` of the file at most). */
  readonly bytesRead: number;
  /** True when the file was larger than the bound: its beginning was not read. */
  readonly headSkipped: boolean;
  /** Decision records at or after `since`, handed to `onRecord`. */
  decisions: number;
  /** Decision records before `since`. */
  beforeSince: number;
  /** Non-decision lines (`event`: breakglass state changes …). */
  events: number;
  /** Lines that are not JSON or not a schema-1 decision record as docs/audit.md describes it. */
  malformed: number;
  /** Lines longer than the line bound (skipped unparsed). */
  oversized: number;
}

/**
 * Reads decision records back from an audit log without trusting it: opened once without blocking (a
 * FIFO or device is refused), at most the last `maxBytes` bytes of what the file held at open time are
 * read (a partial first line is dropped), each line is bounded by `maxLineBytes`, and every line that
 * is not a well-formed schema-1 decision is counted, never fatal. Records before `sinceMs` are counted
 * and skipped. Each kept record is handed to `onRecord` in file order (nothing is held in memory here).
 * Throws only when the file cannot be opened or is not a regular file (`code` set: ENOENT,
 * CG_ERR_FILE_NOT_REGULAR, CG_ERR_FILE_UNREADABLE).
 */
export function readAuditLog(options: {
  readonly path: string;
  readonly sinceMs: number | undefined;
  readonly maxBytes?: number;
  readonly maxLineBytes?: number;
  readonly onRecord: (record: AuditedDecision) => void;
}): AuditReadStats {
  const maxBytes = options.maxBytes ?? DEFAULT_AUDIT_READ_BYTES;
  const maxLine = options.maxLineBytes ?? DEFAULT_AUDIT_LINE_BYTES;
  let fd: number;
  try {
    fd = openSync(options.path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw Object.assign(new Error(`cannot open ${options.path}: ${code ?? String(err)}`), {
      code: code === 'ENOENT' ? 'ENOENT' : 'CG_ERR_FILE_UNREADABLE',
    });
  }
  try {
    const info = fstatSync(fd);
    if (!info.isFile())
      throw Object.assign(new Error(`${options.path} is not a regular file`), {
        code: 'CG_ERR_FILE_NOT_REGULAR',
      });
    const start = Math.max(0, info.size - maxBytes);
    const stats: AuditReadStats = {
      file: options.path,
      fileBytes: info.size,
      bytesRead: 0,
      headSkipped: start > 0,
      decisions: 0,
      beforeSince: 0,
      events: 0,
      malformed: 0,
      oversized: 0,
    };
    const lines = new LineSplitter(maxLine, start > 0);
    const chunk = Buffer.alloc(1024 * 1024);
    let position = start;
    let bytesRead = 0;
    while (position < info.size) {
      const n = readSync(fd, chunk, 0, Math.min(chunk.length, info.size - position), position);
      if (n <= 0) break;
      position += n;
      bytesRead += n;
      lines.push(chunk.subarray(0, n), (line) => classify(line, options, stats), stats);
    }
    // An unterminated last line is a record being written right now: it is not read.
    return { ...stats, bytesRead };
  } finally {
    closeSync(fd);
  }
}

function classify(
  line: Buffer,
  options: { readonly sinceMs: number | undefined; readonly onRecord: (r: AuditedDecision) => void },
  stats: AuditReadStats,
): void {
  if (line.length === 0) return;
  let value: unknown;
  try {
    value = JSON.parse(line.toString('utf8'));
  } catch {
    stats.malformed += 1;
    return;
  }
  if (typeof value === 'object' && value !== null && 'event' in value) {
    stats.events += 1;
    return;
  }
  const parsed = replayableRecord.safeParse(value);
  const time = parsed.success ? Date.parse(parsed.data.time) : Number.NaN;
  if (!parsed.success || Number.isNaN(time)) {
    stats.malformed += 1;
    return;
  }
  if (options.sinceMs !== undefined && time < options.sinceMs) {
    stats.beforeSince += 1;
    return;
  }
  stats.decisions += 1;
  options.onRecord(parsed.data);
}

/** Splits bytes into lines, bounding each; a line past the bound is dropped and counted as oversized. */
class LineSplitter {
  private parts: Buffer[] = [];
  private length = 0;
  private skipping: boolean;

  /** `skipFirst`: the read began mid-file, so the first (partial) line is dropped unread. */
  constructor(
    private readonly maxLine: number,
    skipFirst: boolean,
  ) {
    this.skipping = skipFirst;
  }

  push(bytes: Buffer, onLine: (line: Buffer) => void, stats: { oversized: number }): void {
    let from = 0;
    while (from < bytes.length) {
      const at = bytes.indexOf(0x0a, from);
      const end = at < 0 ? bytes.length : at;
      if (!this.skipping) {
        if (this.length + (end - from) > this.maxLine) {
          stats.oversized += 1;
          this.skipping = true;
          this.parts = [];
          this.length = 0;
        } else {
          this.parts.push(Buffer.from(bytes.subarray(from, end)));
          this.length += end - from;
        }
      }
      if (at < 0) return;
      if (!this.skipping) onLine(Buffer.concat(this.parts, this.length));
      this.parts = [];
      this.length = 0;
      this.skipping = false;
      from = at + 1;
    }
  }
}
