import type { AuditLog } from '../audit/audit-log.js';
import { createBreakglassMonitor, type BreakglassMonitor } from '../breakglass/monitor.js';
import type { BreakglassStatus } from '../breakglass/status.js';
import type { ServeConfig } from '../config/serve-config.js';
import type { Logger } from '../log/logger.js';

/**
 * Watches the breakglass file; every state change is logged loudly and written to the audit log (an
 * invalid or unsafe file is ignored as a whole: enforcement stays on). A file present at start is
 * reported at once.
 */
export function watchBreakglass(config: ServeConfig, logger: Logger, audit: AuditLog): BreakglassMonitor {
  const report = (status: BreakglassStatus) => {
    const fields = {
      file: config.breakglassFile,
      state: status.state,
      expiresAt: status.expiresAt,
      scope: status.scope,
      reason: status.reason,
      ticket: status.ticket,
      createdBy: status.createdBy,
      problem: status.problem,
      fileSha256: status.fileSha256,
    };
    audit.event('breakglass', fields);
    if (status.state === 'active')
      logger.warn(fields, 'BREAKGLASS ACTIVE: matching denials are admitted and audited');
    else if (status.state === 'absent') logger.info(fields, 'breakglass closed');
    else logger.error(fields, 'breakglass file IGNORED: enforcement stays on');
  };
  const monitor = createBreakglassMonitor({
    path: config.breakglassFile,
    maxWindowMs: config.breakglassMaxWindowHours * 3_600_000,
    onChange: report,
  });
  const initial = monitor.status(Date.now());
  if (initial.state !== 'absent') report(initial);
  return monitor;
}
