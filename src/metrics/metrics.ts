import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DecisionRecord } from '../admission/decision-record.js';

/** Live numbers read at scrape time (cache size, connections, breakglass). */
export interface MetricsProbes {
  readonly cacheEntries: () => number;
  readonly cacheHits: () => number;
  readonly cacheMisses: () => number;
  readonly verifications: () => number;
  /** Image verifications running and waiting for a slot now, and decisions refused for want of one. */
  readonly verificationSlots?: () => { active: number; waiting: number; refused: number };
  readonly connections: () => number;
  readonly breakglass: () => { active: boolean; invalid: boolean };
  /** Quarantine entries in force, and whether the file is invalid (kept list, or every image denied). */
  readonly quarantine?: () => { entries: number; invalid: boolean };
}

/** Audit reasons of a quarantine refusal (src/admission/quarantine-check.ts). */
const QUARANTINE_REASONS = new Set(['QUARANTINED', 'QUARANTINE_INVALID']);
/** Distinct namespaces named in `criguard_denials_total`; later ones count as OTHER_NAMESPACE. */
export const MAX_NAMESPACE_LABELS = 256;
const OTHER_NAMESPACE = '_other';
/** A Kubernetes namespace name (RFC 1123 label); anything else a client sends is not echoed into a label. */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The namespace label of a denial: the namespace itself while fewer than MAX_NAMESPACE_LABELS were seen,
 * `_none` when the client sent none, `_invalid` for a string no namespace can be, `_other` past the cap:
 * a CRI client cannot grow the metric without bound.
 */
export function namespaceLabel(namespace: string, seen: Set<string>): string {
  if (namespace === '') return '_none';
  if (!NAMESPACE.test(namespace)) return '_invalid';
  if (seen.has(namespace)) return namespace;
  if (seen.size >= MAX_NAMESPACE_LABELS) return OTHER_NAMESPACE;
  seen.add(namespace);
  return namespace;
}

/**
 * criguard's Prometheus metrics, on a registry of its own (no global state). `observe` is the decision
 * sink side: it counts every audited decision.
 */
export function createMetrics(probes: MetricsProbes) {
  const registry = new Registry();
  // Event-loop lag sampled every 500 ms: prom-client's 10 ms default woke an idle daemon ~200 times a second.
  collectDefaultMetrics({ register: registry, prefix: 'criguard_', eventLoopMonitoringPrecision: 500 });
  const decisions = new Counter({
    name: 'criguard_decisions_total',
    help: 'Admission decisions by method, outcome and reason code; dry_run="true" marks admits a dry-run rule made.',
    labelNames: ['method', 'outcome', 'reason', 'dry_run'] as const,
    registers: [registry],
  });
  const denials = new Counter({
    name: 'criguard_denials_total',
    help: `Denied PullImage and CreateContainer calls by pod namespace; dry_run="true" counts the would-be denials a dry-run rule admitted. At most ${MAX_NAMESPACE_LABELS} namespaces are named, the rest count as "${OTHER_NAMESPACE}".`,
    labelNames: ['namespace', 'method', 'dry_run'] as const,
    registers: [registry],
  });
  const namespaces = new Set<string>();
  const latency = new Histogram({
    name: 'criguard_decision_duration_seconds',
    help: 'Time to decide, including registry and verification work.',
    labelNames: ['method'] as const,
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60],
    registers: [registry],
  });
  const undecided = new Counter({
    name: 'criguard_undecided_total',
    help: 'Decisions that could not be made (registry, verification or containerd errors), by error code.',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  const upstreamErrors = new Counter({
    name: 'criguard_upstream_errors_total',
    help: 'Client connections answered UNAVAILABLE because containerd could not be reached.',
    registers: [registry],
  });
  const auditFailures = new Counter({
    name: 'criguard_audit_write_failures_total',
    help: 'Audit records that could not be written.',
    registers: [registry],
  });
  const stateRejected = new Counter({
    name: 'criguard_state_rejected_total',
    help: 'Persisted state ignored because it was unsafe (directory or file owner/mode), forged or corrupt, by file.',
    labelNames: ['file'] as const,
    registers: [registry],
  });
  const policyInfo = new Gauge({
    name: 'criguard_policy_info',
    help: 'The policy in force (value 1), by revision.',
    labelNames: ['revision'] as const,
    registers: [registry],
  });
  const reloadOk = new Gauge({
    name: 'criguard_policy_last_reload_success',
    help: '1 when the last policy (re)load succeeded, 0 when the last good policy is kept after an error.',
    registers: [registry],
  });
  const reloadTime = new Gauge({
    name: 'criguard_policy_last_reload_timestamp_seconds',
    help: 'When the policy files were last read.',
    registers: [registry],
  });
  const violations = new Gauge({
    name: 'criguard_running_violations',
    help: 'Running containers whose image the current policy would not admit (continuous validation).',
    registers: [registry],
  });
  const quarantineHits = new Counter({
    name: 'criguard_quarantine_hits_total',
    help: 'Pulls and creates refused by the quarantine list (reason QUARANTINED, or QUARANTINE_INVALID while the file cannot be trusted).',
    labelNames: ['method', 'reason'] as const,
    registers: [registry],
  });
  const quarantinedRunning = new Gauge({
    name: 'criguard_quarantined_running_containers',
    help: 'Running containers whose image is on the quarantine list (continuous validation).',
    registers: [registry],
  });
  new Gauge({
    name: 'criguard_quarantine_entries',
    help: 'Quarantine entries in force (not expired); while the file is invalid, those of the last good list.',
    registers: [registry],
    collect() {
      this.set(probes.quarantine?.().entries ?? 0);
    },
  });
  new Gauge({
    name: 'criguard_quarantine_file_invalid',
    help: '1 while the quarantine file is invalid or unsafe: the last good list stays in force (or, if none was read since start, every image is refused).',
    registers: [registry],
    collect() {
      this.set(probes.quarantine?.().invalid ? 1 : 0);
    },
  });
  new Gauge({
    name: 'criguard_verdict_cache_entries',
    help: 'Verdicts cached.',
    registers: [registry],
    collect() {
      this.set(probes.cacheEntries());
    },
  });
  new Gauge({
    name: 'criguard_verdict_cache_hits',
    help: 'Verdict cache hits since start.',
    registers: [registry],
    collect() {
      this.set(probes.cacheHits());
    },
  });
  new Gauge({
    name: 'criguard_verdict_cache_misses',
    help: 'Verdict cache misses since start.',
    registers: [registry],
    collect() {
      this.set(probes.cacheMisses());
    },
  });
  new Gauge({
    name: 'criguard_verifications',
    help: 'Attestation verifications run since start (concurrent checks of one digest share one).',
    registers: [registry],
    collect() {
      this.set(probes.verifications());
    },
  });
  new Gauge({
    name: 'criguard_verifications_running',
    help: 'Image verifications running now (at most verifyConcurrency).',
    registers: [registry],
    collect() {
      this.set(probes.verificationSlots?.().active ?? 0);
    },
  });
  new Gauge({
    name: 'criguard_verifications_waiting',
    help: 'Decisions waiting for a verification slot now (FIFO; at most 1,000).',
    registers: [registry],
    collect() {
      this.set(probes.verificationSlots?.().waiting ?? 0);
    },
  });
  new Gauge({
    name: 'criguard_verifications_refused',
    help: 'Decisions refused at once since start because the verification queue was full (CG_ERR_VERIFY_BUSY).',
    registers: [registry],
    collect() {
      this.set(probes.verificationSlots?.().refused ?? 0);
    },
  });
  new Gauge({
    name: 'criguard_connections',
    help: 'Client connections open.',
    registers: [registry],
    collect() {
      this.set(probes.connections());
    },
  });
  new Gauge({
    name: 'criguard_breakglass_active',
    help: '1 while a valid breakglass file is in force.',
    registers: [registry],
    collect() {
      this.set(probes.breakglass().active ? 1 : 0);
    },
  });
  new Gauge({
    name: 'criguard_breakglass_invalid',
    help: '1 while a breakglass file exists but is ignored (unsafe, invalid or expired).',
    registers: [registry],
    collect() {
      this.set(probes.breakglass().invalid ? 1 : 0);
    },
  });

  return {
    registry,
    observe(record: DecisionRecord): void {
      decisions.inc({
        method: record.method,
        outcome: record.outcome,
        reason: record.reason,
        dry_run: record.dryRun ? 'true' : 'false',
      });
      const wouldDeny = record.dryRun && record.wouldBe !== undefined && record.wouldBe !== 'allow';
      if (record.method !== 'Revalidation' && (record.outcome === 'deny' || wouldDeny)) {
        denials.inc({
          namespace: namespaceLabel(record.pod.namespace, namespaces),
          method: record.method,
          dry_run: record.outcome === 'deny' ? 'false' : 'true',
        });
      }
      latency.observe({ method: record.method }, record.latencyMs / 1000);
      if (record.errorCode) undecided.inc({ code: record.errorCode });
      if (record.method !== 'Revalidation' && QUARANTINE_REASONS.has(record.reason))
        quarantineHits.inc({ method: record.method, reason: record.reason });
    },
    policyLoaded(revision: string, ok: boolean, now: number): void {
      if (ok) {
        policyInfo.reset();
        policyInfo.set({ revision }, 1);
      }
      reloadOk.set(ok ? 1 : 0);
      reloadTime.set(now / 1000);
    },
    upstreamUnavailable: () => upstreamErrors.inc(),
    auditFailed: () => auditFailures.inc(),
    stateRejected: (file: string) => stateRejected.inc({ file }),
    setViolations: (n: number) => violations.set(n),
    setQuarantinedRunning: (n: number) => quarantinedRunning.set(n),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
