import type { AuditReadStats } from '../audit/audit-reader.js';
import {
  SIMULATION_SCHEMA,
  summarize,
  type ChangeCounts,
  type ChangeGroup,
  type SimulatedDecision,
  type SimulationEntry,
  type SimulationSummary,
} from './compare.js';

/** `criguard policy simulate --output json`, schema 1 (docs/cli.md lists every field). */
export interface SimulationReport {
  readonly schema: typeof SIMULATION_SCHEMA;
  readonly candidate: { readonly file: string; readonly revision: string };
  readonly current: { readonly file: string; readonly revision: string };
  /** Running containers: how many were listed, or why they could not be (then `error`). */
  readonly running: { readonly listed: number; readonly error?: string | undefined } | undefined;
  /** The audit log as read (undefined when not read), distinct decisions replayed and dropped. */
  readonly auditLog:
    | (Partial<Omit<AuditReadStats, 'file'>> & {
        readonly file: string;
        readonly since: string | undefined;
        readonly subjects: number;
        readonly droppedSubjects: number;
        readonly error?: string | undefined;
      })
    | undefined;
  readonly entries: readonly SimulationEntry[];
  readonly summary: SimulationSummary;
}

export function buildReport(parts: Omit<SimulationReport, 'schema' | 'summary'>): SimulationReport {
  return { schema: SIMULATION_SCHEMA, ...parts, summary: summarize(parts.entries) };
}

const ARROW: Record<SimulationEntry['change'], string> = {
  'allow-to-deny': 'allow → deny',
  'deny-to-allow': 'deny → allow',
  reason: 'reason',
  none: 'unchanged',
};

/**
 * The report for a person: each changed entry (every entry with `all`), running containers first,
 * then groups by namespace, rule and image, then the summary line.
 */
export function formatReport(report: SimulationReport, all: boolean): string {
  const out: string[] = [
    `candidate ${report.candidate.file} (${report.candidate.revision})`,
    `current   ${report.current.file} (${report.current.revision})`,
    '',
  ];
  const shown = (e: SimulationEntry) => all || e.change !== 'none';
  const running = report.entries.filter((e) => e.source === 'running');
  if (report.running !== undefined) {
    out.push(
      report.running.error === undefined
        ? `Running containers: ${report.running.listed}`
        : `Running containers: not listed (${report.running.error})`,
    );
    for (const e of running.filter(shown)) {
      const c = e.container;
      out.push(
        `  ${ARROW[e.change].padEnd(12)} ${e.namespace}/${c?.pod ?? ''} container ${c?.name ?? ''} ${e.image}`,
        ...detail(e),
      );
    }
  }
  const audit = report.entries.filter((e) => e.source === 'audit');
  const log = report.auditLog;
  if (log !== undefined) {
    out.push(
      '',
      log.error === undefined
        ? `Audit log ${log.file}${log.since === undefined ? '' : ` since ${log.since}`}: ${log.decisions ?? 0} decisions, ${log.subjects} distinct replayed` +
            `${log.droppedSubjects > 0 ? `, ${log.droppedSubjects} not replayed (cap)` : ''}` +
            `; skipped: ${log.malformed ?? 0} malformed, ${log.oversized ?? 0} oversized, ${log.beforeSince ?? 0} older, ${log.events ?? 0} events` +
            `${log.headSkipped === true ? `; only the last ${log.bytesRead ?? 0} bytes read` : ''}`
        : `Audit log ${log.file}: not read (${log.error})`,
    );
    for (const e of audit.filter(shown)) {
      const a = e.audit;
      out.push(
        `  ${ARROW[e.change].padEnd(12)} ${e.namespace} ${a?.method ?? ''} ${e.image} (seen ${a?.count ?? 0}×, last ${a?.lastSeen ?? ''}, recorded ${a?.recordedOutcome ?? ''} ${a?.recordedReason ?? ''})`,
        ...detail(e),
      );
    }
  }
  const changed = (g: ChangeGroup) => g.allowToDeny + g.denyToAllow + g.reasonChanged > 0;
  for (const [title, groups] of [
    ['By namespace', report.summary.byNamespace],
    ['By rule (candidate)', report.summary.byRule],
    ['By image', report.summary.byImage],
  ] as const) {
    const lines = groups.filter(changed).map((g) => `  ${g.key}: ${counts(g)}`);
    if (lines.length > 0) out.push('', `${title}:`, ...lines);
  }
  const s = report.summary;
  out.push(
    '',
    `Summary: running ${counts(s.running)}; audit ${counts(s.audit)}.`,
    s.runningDenied > 0
      ? `The candidate would DENY ${s.runningDenied} running container(s): their next restart or reschedule fails.`
      : 'The candidate denies no running container.',
    '',
  );
  return out.join('\n');
}

function detail(e: SimulationEntry): string[] {
  return [`      current:   ${decision(e.current)}`, `      candidate: ${decision(e.candidate)}`];
}

function decision(d: SimulatedDecision): string {
  const dry =
    d.dryRun && d.wouldBe !== undefined && d.wouldBe !== d.outcome ? ` (dry run: would ${d.wouldBe})` : '';
  const missing = d.missing.length > 0 ? `; missing ${d.missing.join(', ')}` : '';
  const error = d.errorCode === undefined ? '' : ` [${d.errorCode}]`;
  return `${d.outcome}${dry} ${d.reason} by ${d.rule}${error}${missing}`;
}

function counts(c: ChangeCounts): string {
  return `${c.total} judged, ${c.allowToDeny} allow → deny, ${c.denyToAllow} deny → allow, ${c.reasonChanged} reason changed, ${c.unchanged} unchanged`;
}
