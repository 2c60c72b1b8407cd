import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningContainer } from '../admission/revalidation.js';
import { readAuditLog } from '../audit/audit-reader.js';
import { parseDuration } from '../breakglass/duration.js';
import { parseRfc3339 } from '../documents/rfc3339.js';
import { DEFAULT_SERVE_CONFIG, loadServeConfig, type ServeConfig } from '../config/serve-config.js';
import { createContainerdClient } from '../cri/containerd-client.js';
import { privateDirectoryProblem } from '../files/private-directory.js';
import { createLogger } from '../log/logger.js';
import { PolicyLoadError } from '../policy/errors.js';
import type { CompiledPolicy } from '../policy/types.js';
import { loadPolicyFiles } from '../policy-files/load-policy-files.js';
import { createManifestStore } from '../attestations/manifest-store.js';
import { createPlatformManifestResolver } from '../registry/platform-manifest.js';
import { createAuditSubjects, DEFAULT_MAX_AUDIT_SUBJECTS } from '../simulate/audit-subjects.js';
import type { SimulationEntry } from '../simulate/compare.js';
import { buildReport, formatReport, type SimulationReport } from '../simulate/report.js';
import { createSimulator, judgeAll } from '../simulate/simulator.js';
import type { Command, CommandIo } from './command.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { parseOptions, requireOption } from './parse-options.js';
import { printIssues } from './policy-check.js';
import { createEvidence } from '../daemon/evidence-sources.js';
import { createNodeCredentialsFromConfig, createRegistry } from '../daemon/registry-access.js';

/** The serve config the installed unit runs with (systemd/criguard.service). */
export const DEFAULT_CONFIG_FILE = '/etc/criguard/config.yaml';
const DEFAULT_SINCE = '24h';
const DAYS = /^(\d{1,4})d$/;
/** Subjects judged at once: registry round trips overlap, the node is not flooded. */
const CONCURRENCY = 4;

/**
 * `criguard policy simulate`: what a candidate policy would change on this node. Running containers
 * (from containerd) and the decisions in the audit log are judged by the daemon's own admission code
 * under the current policy and under the candidate, with the daemon's evidence sources (the registry
 * with the node's credentials, the attestation directory, the on-disk attestation cache read-only);
 * the differences are printed. Nothing is written.
 */
export const policySimulateCommand: Command = {
  name: 'policy simulate',
  summary: 'show what a candidate policy would change on this node (running containers, audit log)',
  usage: [
    'Usage: criguard policy simulate --policy CANDIDATE [--current-policy FILE] [--config FILE]',
    '                                [--attestors-dir DIR] [--upstream PATH] [--skip-running]',
    '                                [--audit-log PATH | --skip-audit] [--since DURATION|RFC3339]',
    '                                [--audit-max-mib N] [--max-audit-subjects N]',
    '                                [--output text|json] [--all]',
    '',
    `--config is a criguard serve config file (default ${DEFAULT_CONFIG_FILE} when it exists): its`,
    'policy is the current one, its upstream, registries, credentials, attestationsDir and stateDir',
    'are the evidence sources, its auditLog the log read. --since: 90m, 24h, 7d or an RFC 3339 time',
    `(default ${DEFAULT_SINCE}). Text output lists changed entries (--all: every entry).`,
    '',
    'Exit codes: 0 the candidate denies no running container; 3 it would deny at least one;',
    '1 a source could not be read (containerd, an --audit-log given); 2 invalid policy or config; 64 usage.',
  ].join('\n'),
  async run(args, io) {
    const { values } = parseOptions(
      args,
      {
        policy: { type: 'string' },
        'current-policy': { type: 'string' },
        config: { type: 'string' },
        'attestors-dir': { type: 'string' },
        upstream: { type: 'string' },
        'skip-running': { type: 'boolean' },
        'audit-log': { type: 'string' },
        'skip-audit': { type: 'boolean' },
        since: { type: 'string' },
        'audit-max-mib': { type: 'string' },
        'max-audit-subjects': { type: 'string' },
        output: { type: 'string' },
        all: { type: 'boolean' },
      },
      false,
    );
    const candidatePath = requireOption(values.policy, 'policy');
    const output = values.output ?? 'text';
    if (output !== 'text' && output !== 'json') throw new UsageError('--output must be text or json');
    if (values['skip-audit'] && values['audit-log'] !== undefined)
      throw new UsageError('--audit-log and --skip-audit exclude each other');
    const sinceText = values.since ?? DEFAULT_SINCE;
    const since = parseSince(sinceText, Date.now());
    const auditMaxBytes =
      positiveInteger(values['audit-max-mib'] ?? '128', 'audit-max-mib', 65_536) * 1024 * 1024;
    const maxSubjects = positiveInteger(
      values['max-audit-subjects'] ?? String(DEFAULT_MAX_AUDIT_SUBJECTS),
      'max-audit-subjects',
      1_000_000,
    );

    const configFile = values.config ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
    let config: ServeConfig = DEFAULT_SERVE_CONFIG;
    if (configFile !== undefined) {
      try {
        config = loadServeConfig({ file: configFile, flags: {}, cwd: process.cwd() });
      } catch (err) {
        io.stderr(`criguard policy simulate: ${(err as Error).message}\n`);
        return ExitCode.INVALID_INPUT;
      }
    }
    const currentPath = values['current-policy'] ?? config.policy;
    if (currentPath === undefined)
      throw new UsageError('no current policy: pass --current-policy or a --config that names one');
    const candidate = await loadPolicy(
      io,
      candidatePath,
      values['attestors-dir'] ?? config.attestorsDir,
      config,
    );
    const current = await loadPolicy(io, currentPath, config.attestorsDir, config);
    if (candidate === undefined || current === undefined) return ExitCode.INVALID_INPUT;

    const logger = createLogger('error', process.stderr);
    const registry = createRegistry(config, logger);
    const nodeCredentials = createNodeCredentialsFromConfig(config, logger);
    const containerd = createContainerdClient(values.upstream ?? config.upstream);
    // The daemon's on-disk attestation cache, read-only, and only where the daemon itself would trust it.
    const stateSafe = privateDirectoryProblem(config.stateDir, process.geteuid?.() ?? 0) === undefined;
    const simulator = createSimulator(
      {
        resolver: {
          resolve: async (reference, credentials, signal) =>
            (
              await registry.resolve(reference.canonical, {
                credentials: credentials ?? (await nodeCredentials.lookup(reference.name, signal)),
                signal,
                verifyContent: true,
              })
            ).digest,
        },
        evidence: createEvidence(config, registry, logger, nodeCredentials, stateSafe ? 'read-only' : 'off'),
        // The daemon's persisted platform mappings, read-only (where it would trust them).
        platforms: createPlatformManifestResolver(
          registry,
          undefined,
          stateSafe ? join(config.stateDir, 'platforms.json') : undefined,
          config.attestationsDir === undefined ? undefined : createManifestStore(config.attestationsDir),
          true,
        ),
        images: containerd,
        clock: Date.now,
        budgetMs: config.verifyTimeoutSeconds * 1000,
      },
      { current, candidate },
    );
    const signal = new AbortController().signal;
    const entries: SimulationEntry[] = [];
    let failed = false;
    let running: SimulationReport['running'];
    let auditLog: SimulationReport['auditLog'];
    try {
      if (!values['skip-running']) {
        let containers: RunningContainer[] | undefined;
        try {
          containers = await containerd.listRunning(signal);
        } catch (err) {
          failed = true;
          running = { listed: 0, error: (err as Error).message };
        }
        if (containers !== undefined) {
          running = { listed: containers.length };
          entries.push(...(await judgeAll(containers, CONCURRENCY, (c) => simulator.running(c, signal))));
        }
      }
      if (!values['skip-audit']) {
        const file = values['audit-log'] ?? config.auditLog;
        const subjects = createAuditSubjects(maxSubjects);
        try {
          if (file === '-')
            throw Object.assign(new Error('the audit log goes to stdout'), { code: 'ENOENT' });
          const stats = readAuditLog({
            path: file,
            sinceMs: since,
            maxBytes: auditMaxBytes,
            onRecord: (r) => subjects.add(r),
          });
          const { file: _file, ...read } = stats;
          auditLog = {
            file,
            since: new Date(since).toISOString(),
            ...read,
            subjects: subjects.subjects.length,
            droppedSubjects: subjects.dropped,
          };
          entries.push(
            ...(await judgeAll(subjects.subjects, CONCURRENCY, (s) => simulator.audit(s, signal))),
          );
        } catch (err) {
          // The default log may simply not exist (yet); one the operator named must be readable.
          if (values['audit-log'] !== undefined) failed = true;
          auditLog = {
            file,
            since: new Date(since).toISOString(),
            subjects: 0,
            droppedSubjects: 0,
            error: (err as Error).message,
          };
        }
      }
    } finally {
      containerd.close();
      await registry.close();
    }

    const report = buildReport({
      candidate: { file: candidatePath, revision: candidate.revision },
      current: { file: currentPath, revision: current.revision },
      running,
      auditLog,
      entries,
    });
    io.stdout(
      output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report, values.all === true),
    );
    if (report.summary.runningDenied > 0) return ExitCode.WOULD_DENY_RUNNING;
    return failed ? ExitCode.DENIED_OR_FAILED : ExitCode.OK;
  },
};

async function loadPolicy(
  io: CommandIo,
  policyPath: string,
  attestorsDir: string | undefined,
  config: ServeConfig,
): Promise<CompiledPolicy | undefined> {
  try {
    return await loadPolicyFiles({ policyPath, attestorsDir, cluster: config.cluster });
  } catch (err) {
    if (!(err instanceof PolicyLoadError)) throw err;
    printIssues(io, err);
    return undefined;
  }
}

/** `--since`: a duration back from `now` (`90m`, `24h`, `7d`) or an RFC 3339 time; ms since the epoch. */
export function parseSince(text: string, now: number): number {
  const days = DAYS.exec(text);
  const back = days ? Number(days[1]) * 86_400_000 : parseDuration(text);
  if (back !== undefined && back > 0) return now - back;
  const at = parseRfc3339(text);
  if (at !== undefined) return at;
  throw new UsageError(`--since must be a duration (90m, 24h, 7d) or an RFC 3339 time, not "${text}"`);
}

function positiveInteger(text: string, name: string, max: number): number {
  const n = Number(text);
  if (!/^\d{1,9}$/.test(text) || n < 1 || n > max)
    throw new UsageError(`--${name} must be an integer from 1 to ${max}`);
  return n;
}
