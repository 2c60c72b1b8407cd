import { DEFAULT_MAX_WINDOW_MS } from '../breakglass/defaults.js';
import { formatDuration, parseDuration } from '../breakglass/duration.js';
import type { BreakglassScope } from '../breakglass/scope.js';
import type { BreakglassStatus } from '../breakglass/status.js';
import { UsageError } from './exit-codes.js';

/** `--max-window` as milliseconds (default 24 h); UsageError for a bad duration. */
export function toMaxWindowMs(value: string | undefined): number {
  if (value === undefined) return DEFAULT_MAX_WINDOW_MS;
  const ms = parseDuration(value);
  if (ms === undefined)
    throw new UsageError(`--max-window: "${value}" is not a duration like 90m, 2h or 1h30m`);
  return ms;
}

/** One line describing a scope: `all`, or `namespaces a, b; images p/**; digests sha256:…`. */
export function describeScope(scope: BreakglassScope): string {
  if ('all' in scope) return 'all images in all namespaces';
  const parts: string[] = [];
  if (scope.namespaces) parts.push(`namespaces ${scope.namespaces.join(', ')}`);
  if (scope.images) parts.push(`images ${scope.images.join(', ')}`);
  if (scope.digests) parts.push(`digests ${scope.digests.join(', ')}`);
  return parts.join(' AND ');
}

/** A status as text lines for humans. */
export function formatStatus(path: string, status: BreakglassStatus, now: number): string {
  const lines: string[] = [];
  const until = status.expiresAt ?? '';
  switch (status.state) {
    case 'absent':
      lines.push(`breakglass: absent (no file at ${path}); enforcement is on`);
      break;
    case 'active': {
      const left = formatDuration(Date.parse(until) - now);
      lines.push(`breakglass: ACTIVE until ${until} (${left} left); enforcement is overridden for its scope`);
      break;
    }
    case 'expired':
      lines.push(`breakglass: expired at ${until}; ignored, enforcement is on`);
      break;
    case 'invalid':
      lines.push(`breakglass: INVALID, ignored as a whole; enforcement is on`);
      break;
  }
  if (status.state !== 'absent') lines.push(`file: ${path}`);
  if (status.fileSha256) lines.push(`sha256: ${status.fileSha256}`);
  if (status.scope) lines.push(`scope: ${describeScope(status.scope)}`);
  if (status.reason) lines.push(`reason: ${status.reason}`);
  if (status.ticket) lines.push(`ticket: ${status.ticket}`);
  if (status.createdBy) lines.push(`created by: ${status.createdBy}`);
  if (status.problem) lines.push(`problem: ${status.problem.code}: ${status.problem.message}`);
  return `${lines.join('\n')}\n`;
}
