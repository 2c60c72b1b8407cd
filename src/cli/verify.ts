import { createAdmission } from '../admission/controller.js';
import type { DecisionRecord } from '../admission/decision-record.js';
import type { EvidenceSource } from '../admission/ports.js';
import { AttestationError } from '../attestations/errors.js';
import { createLocalDirectorySource } from '../attestations/local-directory-source.js';
import { createRegistrySource } from '../attestations/registry-source.js';
import { VerdictCache } from '../cache/verdict-cache.js';
import { DEFAULT_SERVE_CONFIG, loadServeConfig } from '../config/serve-config.js';
import type { ServeConfig } from '../config/serve-config.js';
import { createLogger } from '../log/logger.js';
import { PolicyLoadError } from '../policy/errors.js';
import type { Verdict } from '../policy/verdict.js';
import { loadPolicyFiles } from '../policy-files/load-policy-files.js';
import { InvalidReferenceError } from '../reference/errors.js';
import { parseImageReference } from '../reference/image-reference.js';
import type { ImageReference } from '../reference/image-reference.js';
import type { Command, CommandIo } from './command.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { parseOptions, requireOption } from './parse-options.js';
import { printIssues } from './policy-check.js';
import { runVerifyBundle, VERIFY_BUNDLE_USAGE } from './verify-bundle.js';
import { createNodeCredentialsFromConfig, createRegistry } from '../daemon/registry-access.js';
import { createManifestStore } from '../attestations/manifest-store.js';
import { createPlatformManifestResolver } from '../registry/platform-manifest.js';

/**
 * `criguard verify`: decides, with the daemon's own admission code, whether the policy admits an image
 * (by tag or digest), as a PullImage from a pod of `--namespace` would be decided. Exit 0 allow, 1 deny.
 * With `--bundle`, verifies one Sigstore bundle for a digest instead (verify-bundle.ts).
 */
export const verifyCommand: Command = {
  name: 'verify',
  summary: 'decide whether the policy admits an image, as the daemon would',
  usage: [
    'Usage: criguard verify --policy FILE [--attestors-dir DIR] [--attestations-dir DIR] [--config FILE]',
    '                       [--trusted-root FILE]',
    '                       [--online | --offline] [--namespace NS] [--cluster LOCATION.CLUSTER]',
    '                       [--output text|json] IMAGE[:TAG | @sha256:DIGEST]',
    '',
    "Evidence: --attestations-dir, then the registry (through containerd's mirrors, with the node's",
    'credentials: see --config, a criguard serve config file for registries, registryHostsDir and',
    'nodeCredentials). Given a digest and --attestations-dir, verify stays offline unless --online.',
    '',
    'Exit codes: 0 allowed (including dry run), 1 denied, 2 invalid policy or config, 64 usage.',
    '',
    VERIFY_BUNDLE_USAGE,
  ].join('\n'),
  async run(args, io) {
    if (args.some((a) => a === '--bundle' || a.startsWith('--bundle='))) return runVerifyBundle(args, io);
    const { values, positionals } = parseOptions(
      args,
      {
        policy: { type: 'string' },
        'attestors-dir': { type: 'string' },
        'attestations-dir': { type: 'string' },
        'trusted-root': { type: 'string' },
        config: { type: 'string' },
        online: { type: 'boolean' },
        offline: { type: 'boolean' },
        namespace: { type: 'string' },
        cluster: { type: 'string' },
        output: { type: 'string' },
      },
      true,
    );
    const policyPath = requireOption(values.policy, 'policy');
    const dir = values['attestations-dir'];
    const output = values.output ?? 'text';
    if (output !== 'text' && output !== 'json') throw new UsageError('--output must be text or json');
    if (values.online && values.offline) throw new UsageError('--online and --offline exclude each other');
    const reference = parseReferenceArgument(positionals);
    const namespace = values.namespace ?? 'default';
    const online =
      values.online === true || (!values.offline && !(dir !== undefined && reference.digest !== undefined));

    let config: ServeConfig = DEFAULT_SERVE_CONFIG;
    if (values.config !== undefined) {
      try {
        config = loadServeConfig({ file: values.config, flags: {}, cwd: process.cwd() });
      } catch (err) {
        io.stderr(`criguard verify: ${(err as Error).message}\n`);
        return ExitCode.INVALID_INPUT;
      }
    }
    let policy;
    try {
      policy = await loadPolicyFiles({
        policyPath,
        attestorsDir: values['attestors-dir'],
        trustedRootPath: values['trusted-root'] ?? config.trustedRoot,
        cluster: values.cluster,
      });
    } catch (err) {
      if (!(err instanceof PolicyLoadError)) throw err;
      printIssues(io, err);
      return ExitCode.INVALID_INPUT;
    }

    const logger = createLogger('error', process.stderr);
    const skipped: { path: string; code: string }[] = [];
    const evidence: EvidenceSource[] = [];
    if (dir !== undefined) {
      evidence.push(
        createLocalDirectorySource({
          dir,
          onSkipped: (path, code) => skipped.push({ path, code }),
        }),
      );
    }
    const nodeCredentials = online ? createNodeCredentialsFromConfig(config, logger) : undefined;
    const registry = online ? createRegistry(config, logger, nodeCredentials) : undefined;
    if (registry !== undefined && nodeCredentials !== undefined) {
      for (const format of ['cosign', 'bundles'] as const) {
        evidence.push(
          createRegistrySource({
            client: registry,
            cosignLegacy: format === 'cosign',
            sigstoreBundles: format === 'bundles',
            onSkipped: (where, code) => skipped.push({ path: where, code }),
            fallbackCredentials: (name, signal) => nodeCredentials.lookup(name, signal),
          }),
        );
      }
    }
    const records: DecisionRecord[] = [];
    const admission = createAdmission({
      policy: () => policy,
      resolver: {
        resolve: async (ref, credentials, signal) => {
          if (registry === undefined || nodeCredentials === undefined) {
            throw new AttestationError('CG_ERR_ATTESTATION_IO', 'a tag needs the registry (drop --offline)');
          }
          const c = credentials ?? (await nodeCredentials.lookup(ref.name, signal));
          return (await registry.resolve(ref.canonical, { credentials: c, signal, verifyContent: true }))
            .digest;
        },
      },
      evidence,
      // Multi-arch: the platform manifest this machine would run, from the registry or, offline, from the
      // manifests `criguard attestations import` put beside the attestations.
      platforms:
        registry === undefined && dir === undefined
          ? undefined
          : createPlatformManifestResolver(
              registry,
              undefined,
              undefined,
              dir === undefined ? undefined : createManifestStore(dir),
            ),
      images: { lookup: async () => undefined },
      cache: new VerdictCache({ maxEntries: 16, allowTtlMs: 0, denyTtlMs: 0, now: Date.now }),
      sink: { record: (r) => void records.push(r) },
      clock: Date.now,
      budgetMs: config.verifyTimeoutSeconds * 1000,
    });
    try {
      await admission.admitPull(
        {
          image: reference.canonical,
          pod: { namespace, name: 'criguard-verify', uid: '', labels: {}, annotations: {} },
          credentials: undefined,
        },
        new AbortController().signal,
      );
    } finally {
      await registry?.close();
    }
    const record = records.at(-1);
    if (record === undefined) throw new Error('no decision recorded');
    if (output === 'json') {
      const digest = record.digests[0];
      io.stdout(
        `${JSON.stringify(
          {
            image: digest === undefined ? reference.canonical : `${reference.name}@${digest}`,
            namespace,
            outcome: record.outcome,
            reason: record.reason,
            message: record.message,
            errorCode: record.errorCode,
            verdict: record.verdict,
            skipped,
          },
          null,
          2,
        )}\n`,
      );
    } else {
      printDecision(io, reference, namespace, record, skipped);
    }
    return record.outcome === 'allow' ? ExitCode.OK : ExitCode.DENIED_OR_FAILED;
  },
};

/** Exactly one positional IMAGE (tag or digest), normalised; UsageError otherwise. */
function parseReferenceArgument(positionals: readonly string[]): ImageReference {
  if (positionals.length !== 1) throw new UsageError('expected exactly one IMAGE[:TAG|@sha256:DIGEST]');
  try {
    return parseImageReference(positionals[0] ?? '');
  } catch (err) {
    if (err instanceof InvalidReferenceError)
      throw new UsageError(`invalid image reference: ${err.code} (${err.reason})`);
    throw err;
  }
}

function printDecision(
  io: CommandIo,
  reference: ImageReference,
  namespace: string,
  record: DecisionRecord,
  skipped: readonly { path: string; code: string }[],
): void {
  const v: Verdict | undefined = record.verdict;
  const head =
    record.dryRun && record.wouldBe !== undefined && record.wouldBe !== 'allow'
      ? `ALLOW (dry run: would ${record.wouldBe.toUpperCase()})`
      : record.outcome.toUpperCase();
  const digest = record.digests[0];
  const lines = [
    `${head} ${v?.reason ?? record.reason}`,
    ...(record.message === undefined ? [] : [`message:   ${record.message}`]),
    `image:     ${digest === undefined ? reference.canonical : `${reference.name}@${digest}`}`,
    `namespace: ${namespace}`,
    ...(v === undefined
      ? []
      : [
          `rule:      ${v.rule.kind}${v.rule.key === undefined ? '' : ` ${v.rule.key}`}${v.enforcementMode ? ` (${v.enforcementMode})` : ''}`,
          ...v.satisfied.map((s) => `attestor:  ${s.attestor} satisfied by ${s.keyIds.join(', ')}`),
          ...v.missing.map((m) => `attestor:  ${m.attestor} missing (${m.reason})`),
        ]),
    ...skipped.map((s) => `skipped:   ${s.path} (${s.code})`),
    `policy:    ${record.policyRevision ?? ''}`,
    '',
  ];
  io.stdout(lines.join('\n'));
}
