import type { DecisionRecord } from '../admission/decision-record.js';

/** Version of `criguard policy simulate --output json` (docs/cli.md). Bumped on any incompatible change. */
export const SIMULATION_SCHEMA = 1;

/** One policy's decision for one subject, as the daemon's admission code made it. */
export interface SimulatedDecision {
  /** What criguard would do (a dry-run rule admits). */
  readonly outcome: 'allow' | 'deny';
  /** Stable reason code (docs/audit.md). */
  readonly reason: string;
  /** The rule that decided (`namespace prod`, `default`, `allowlist PATTERN` …); `undecided` when none did. */
  readonly rule: string;
  /** What an enforced rule would do (differs from `outcome` under a dry-run rule). */
  readonly wouldBe: 'allow' | 'deny' | 'undecided' | undefined;
  readonly dryRun: boolean;
  readonly errorCode: string | undefined;
  /** The message the kubelet would see (deny) or would have seen (dry run). */
  readonly message: string | undefined;
  /** Attestors required and missing, with their reasons. */
  readonly missing: readonly string[];
}

/**
 * How the candidate's decision differs from the current one: `allow-to-deny`, `deny-to-allow`,
 * `reason` (same outcome, another reason code or deciding rule), or `none`.
 */
export type Change = 'allow-to-deny' | 'deny-to-allow' | 'reason' | 'none';

/** What was judged: a running container, or a decision found in the audit log. */
export interface SimulationSubject {
  readonly source: 'running' | 'audit';
  readonly namespace: string;
  /** The image judged: `name@digest` when known, else as given (an image id, a tag). */
  readonly image: string;
  /** Running containers: the container and its pod. */
  readonly container?: {
    readonly id: string;
    readonly name: string;
    readonly pod: string;
    readonly imageId: string;
  };
  /** Audit subjects: how the decision was recorded, and how often it was seen. */
  readonly audit?: {
    readonly method: DecisionRecord['method'];
    readonly replayedAs: 'PullImage' | 'Revalidation';
    readonly count: number;
    readonly lastSeen: string;
    readonly recordedOutcome: 'allow' | 'deny';
    readonly recordedReason: string;
  };
}

export interface SimulationEntry extends SimulationSubject {
  readonly current: SimulatedDecision;
  readonly candidate: SimulatedDecision;
  readonly change: Change;
}

/** The audit record admission wrote for one evaluation, reduced to what a comparison needs. */
export function simulatedDecision(record: DecisionRecord): SimulatedDecision {
  const v = record.verdict;
  return {
    outcome: record.outcome,
    reason: record.reason,
    rule: v === undefined ? 'undecided' : ruleLabel(v.rule.kind, v.rule.key),
    wouldBe: record.wouldBe,
    dryRun: record.dryRun,
    errorCode: record.errorCode,
    message: record.message,
    missing: v === undefined ? [] : v.missing.map((m) => `${m.attestor} (${m.reason})`),
  };
}

/** `default`, `namespace prod`, `allowlist registry.example/app/*`, `node-critical NAME@DIGEST` … */
export function ruleLabel(kind: string, key: string | undefined): string {
  return key === undefined ? kind : `${kind} ${key}`;
}

/** The change from `current` to `candidate`. */
export function changeOf(current: SimulatedDecision, candidate: SimulatedDecision): Change {
  if (current.outcome !== candidate.outcome)
    return candidate.outcome === 'deny' ? 'allow-to-deny' : 'deny-to-allow';
  if (current.reason !== candidate.reason || current.rule !== candidate.rule) return 'reason';
  return 'none';
}

export function entryOf(
  subject: SimulationSubject,
  current: SimulatedDecision,
  candidate: SimulatedDecision,
): SimulationEntry {
  return { ...subject, current, candidate, change: changeOf(current, candidate) };
}

/** Counts of changes in a set of entries. */
export interface ChangeCounts {
  total: number;
  allowToDeny: number;
  denyToAllow: number;
  reasonChanged: number;
  unchanged: number;
  /** Entries the candidate denies (changed or not). */
  deniedByCandidate: number;
}

/** Changed entries grouped by one key (image, namespace or the candidate's deciding rule). */
export interface ChangeGroup extends ChangeCounts {
  readonly key: string;
}

export interface SimulationSummary {
  readonly running: ChangeCounts;
  readonly audit: ChangeCounts;
  /** Groups hold every entry of both sources; sorted by allow-to-deny, then by key. */
  readonly byImage: readonly ChangeGroup[];
  readonly byNamespace: readonly ChangeGroup[];
  /** By the rule that decides under the candidate. */
  readonly byRule: readonly ChangeGroup[];
  /** Running containers the candidate would deny: the command's exit code is non-zero when > 0. */
  readonly runningDenied: number;
}

export function summarize(entries: readonly SimulationEntry[]): SimulationSummary {
  const running = entries.filter((e) => e.source === 'running');
  return {
    running: countChanges(running),
    audit: countChanges(entries.filter((e) => e.source === 'audit')),
    byImage: groupBy(entries, (e) => e.image),
    byNamespace: groupBy(entries, (e) => e.namespace),
    byRule: groupBy(entries, (e) => e.candidate.rule),
    runningDenied: running.filter((e) => e.candidate.outcome === 'deny').length,
  };
}

export function countChanges(entries: readonly SimulationEntry[]): ChangeCounts {
  const counts: ChangeCounts = {
    total: 0,
    allowToDeny: 0,
    denyToAllow: 0,
    reasonChanged: 0,
    unchanged: 0,
    deniedByCandidate: 0,
  };
  for (const e of entries) {
    counts.total += 1;
    if (e.change === 'allow-to-deny') counts.allowToDeny += 1;
    else if (e.change === 'deny-to-allow') counts.denyToAllow += 1;
    else if (e.change === 'reason') counts.reasonChanged += 1;
    else counts.unchanged += 1;
    if (e.candidate.outcome === 'deny') counts.deniedByCandidate += 1;
  }
  return counts;
}

function groupBy(entries: readonly SimulationEntry[], key: (e: SimulationEntry) => string): ChangeGroup[] {
  const groups = new Map<string, SimulationEntry[]>();
  for (const e of entries) {
    const k = key(e);
    const list = groups.get(k);
    if (list === undefined) groups.set(k, [e]);
    else list.push(e);
  }
  return [...groups.entries()]
    .map(([k, list]) => ({ key: k, ...countChanges(list) }))
    .sort((a, b) => b.allowToDeny - a.allowToDeny || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
