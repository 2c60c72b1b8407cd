import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DecisionRecord } from '../admission/decision-record.js';
import type { DecisionSink } from '../admission/ports.js';

export interface AuditLog extends DecisionSink {
  /** Writes a non-decision event (e.g. a breakglass state change) as its own line: `{schema, time, node, event, ...}`. */
  event(event: string, fields: Record<string, unknown>): void;
  /** Reopens the file (after log rotation moved it; SIGUSR1). */
  reopen(): void;
  close(): void;
  /** Records written, and records that could not be written. */
  readonly written: number;
  readonly failed: number;
}

/**
 * The audit log: one JSON line per decision, appended synchronously (a record is on disk, or counted as
 * failed, before the decision is answered), to `path` (0600, parent 0700 if created) or to stdout when
 * `path` is "-". `node` is added to every record. A failing sink is reported through `onError` and never
 * changes a decision. Records hold no credentials by construction (DecisionRecord has no field for them).
 */
export function createAuditLog(options: {
  readonly path: string;
  readonly node: string;
  readonly onError: (err: Error) => void;
}): AuditLog {
  let fd: number | undefined;
  let written = 0;
  let failed = 0;
  const open = () => {
    if (options.path === '-') return 1;
    mkdirSync(dirname(options.path), { recursive: true, mode: 0o700 });
    return openSync(options.path, 'a', 0o600);
  };
  try {
    fd = open();
  } catch (err) {
    options.onError(err as Error);
  }
  const write = (value: object) => {
    const line = `${JSON.stringify(value)}\n`;
    try {
      fd ??= open();
      writeSync(fd, line);
      written += 1;
    } catch (err) {
      failed += 1;
      options.onError(err as Error);
    }
  };
  return {
    record(record: DecisionRecord) {
      write({ ...record, node: options.node });
    },
    event(event, fields) {
      write({ schema: 1, time: new Date().toISOString(), node: options.node, event, ...fields });
    },
    reopen() {
      if (options.path === '-') return;
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
