import type { AuditLog } from '../audit/audit-log.js';
import type { ServeConfig } from '../config/serve-config.js';
import type { Logger } from '../log/logger.js';
import {
  createQuarantineMonitor,
  type QuarantineListChange,
  type QuarantineMonitor,
} from '../quarantine/monitor.js';
import type { QuarantineStatus } from '../quarantine/state.js';

/**
 * Watches the quarantine file. Every added and removed entry is written to the audit log (with who made the
 * change, as `criguard quarantine` recorded it); an invalid or unsafe file is logged as an error and audited
 * (the last good list stays in force, or every image is refused when there is none). Any change asks
 * `onListChange` to re-validate running containers now. A file present at start is reported at once.
 */
export function watchQuarantine(
  config: ServeConfig,
  logger: Logger,
  audit: AuditLog,
  onListChange: () => void,
): QuarantineMonitor {
  const file = config.quarantineFile;
  const report = (status: QuarantineStatus, change: QuarantineListChange) => {
    for (const entry of change.added) {
      const by = change.lastChange?.action === 'add' && change.lastChange.image === entry.image;
      const fields = {
        file,
        change: 'added',
        image: entry.image,
        reason: entry.reason,
        ticket: entry.ticket,
        by: entry.addedBy ?? (by ? change.lastChange?.by : undefined),
        expiresAt: entry.expiresAt,
        fileSha256: status.fileSha256,
      };
      audit.event('quarantine', fields);
      logger.warn(fields, 'QUARANTINE: image added; pulls and creates are refused');
    }
    for (const entry of change.removed) {
      const last = change.lastChange;
      const byCli = last?.action === 'remove' && last.image === entry.image;
      const fields = {
        file,
        change: 'removed',
        image: entry.image,
        reason: byCli ? last.reason : undefined,
        ticket: byCli ? last.ticket : undefined,
        by: byCli ? last.by : undefined,
        quarantinedFor: entry.reason,
        fileSha256: status.fileSha256,
      };
      audit.event('quarantine', fields);
      logger.warn(fields, 'quarantine lifted for an image');
    }
    const state = {
      file,
      state: status.state,
      entriesInForce: status.inForce,
      // What is in force, also at start (changes made while the daemon was stopped are not diffed).
      images: status.entries
        .filter((e) => e.inForce)
        .slice(0, 100)
        .map((e) => e.image),
      denyAll: status.denyAll,
      problem: status.problem,
      fileSha256: status.fileSha256,
      keptFileSha256: status.keptFileSha256,
    };
    audit.event('quarantine', state);
    if (status.state === 'invalid') {
      logger.error(
        state,
        status.denyAll
          ? 'quarantine file INVALID and no good list was read: EVERY image is refused until it is fixed'
          : 'quarantine file INVALID: the last good list stays in force',
      );
    } else logger.info(state, 'quarantine list in force');
    if (change.added.length > 0 || change.removed.length > 0) onListChange();
  };
  const monitor = createQuarantineMonitor({ path: file, onChange: report });
  const initial = monitor.status(Date.now());
  if (initial.state !== 'absent') {
    report(initial, { added: [], removed: [], lastChange: undefined });
  }
  return monitor;
}
