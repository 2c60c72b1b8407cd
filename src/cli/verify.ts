import { AttestationError } from '../attestations/errors.js';
import { createLocalDirectorySource } from '../attestations/local-directory-source.js';
import { PolicyLoadError } from '../policy/errors.js';
import { evaluatePolicy } from '../policy/evaluate.js';
import type { Verdict } from '../policy/verdict.js';
import { loadPolicyFiles } from '../policy-files/load-policy-files.js';
import type { ImageIdentity } from '../reference/image-reference.js';
import { verifyPgpSignatures } from '../verify/pgp.js';
import type { Command, CommandIo } from './command.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { parseOptions, requireOption } from './parse-options.js';
import { printIssues } from './policy-check.js';
import { parseImageArgument } from './sign.js';

/** `criguard verify`: evaluates the policy for one image digest offline; exit 0 allow, 1 deny. */
export const verifyCommand: Command = {
  name: 'verify',
  summary: 'decide whether the policy admits an image digest (offline)',
  usage: [
    'Usage: criguard verify --policy FILE [--attestors-dir DIR] --attestations-dir DIR',
    '                       [--namespace NS] [--cluster LOCATION.CLUSTER] [--output text|json] IMAGE@sha256:DIGEST',
    '',
    'Exit codes: 0 allowed (including dry run), 1 denied, 2 invalid policy, 64 usage.',
  ].join('\n'),
  async run(args, io) {
    const { values, positionals } = parseOptions(
      args,
      {
        policy: { type: 'string' },
        'attestors-dir': { type: 'string' },
        'attestations-dir': { type: 'string' },
        namespace: { type: 'string' },
        cluster: { type: 'string' },
        output: { type: 'string' },
      },
      true,
    );
    const policyPath = requireOption(values.policy, 'policy');
    const dir = requireOption(values['attestations-dir'], 'attestations-dir');
    const output = values.output ?? 'text';
    if (output !== 'text' && output !== 'json') throw new UsageError('--output must be text or json');
    const image = parseImageArgument(positionals);
    const namespace = values.namespace ?? 'default';

    let policy;
    try {
      policy = await loadPolicyFiles({
        policyPath,
        attestorsDir: values['attestors-dir'],
        cluster: values.cluster,
      });
    } catch (err) {
      if (!(err instanceof PolicyLoadError)) throw err;
      printIssues(io, err);
      return ExitCode.INVALID_INPUT;
    }
    const skipped: { path: string; code: string }[] = [];
    const source = createLocalDirectorySource({
      dir,
      onSkipped: (path, code) => skipped.push({ path, code }),
    });
    let records;
    try {
      records = await source.fetch(image.name, image.digest);
    } catch (err) {
      if (!(err instanceof AttestationError)) throw err;
      io.stderr(`criguard verify: ${err.message}\n`);
      return ExitCode.DENIED_OR_FAILED;
    }
    await verifyPgpSignatures([...policy.attestors.values()], records, new Date());
    const verdict = evaluatePolicy(policy, image, namespace, records);
    if (output === 'json') {
      io.stdout(
        `${JSON.stringify({ image: `${image.name}@${image.digest}`, namespace, verdict, skipped }, null, 2)}\n`,
      );
    } else {
      printVerdict(io, image, namespace, verdict, skipped);
    }
    return verdict.decision === 'allow' ? ExitCode.OK : ExitCode.DENIED_OR_FAILED;
  },
};

function printVerdict(
  io: CommandIo,
  image: ImageIdentity,
  namespace: string,
  v: Verdict,
  skipped: readonly { path: string; code: string }[],
): void {
  const head = v.dryRun && v.wouldBe === 'deny' ? 'ALLOW (dry run: would DENY)' : v.decision.toUpperCase();
  const lines = [
    `${head} ${v.reason}`,
    `image:     ${image.name}@${image.digest}`,
    `namespace: ${namespace}`,
    `rule:      ${v.rule.kind}${v.rule.key === undefined ? '' : ` ${v.rule.key}`}${v.enforcementMode ? ` (${v.enforcementMode})` : ''}`,
    ...v.satisfied.map((s) => `attestor:  ${s.attestor} satisfied by ${s.keyIds.join(', ')}`),
    ...v.missing.map((m) => `attestor:  ${m.attestor} missing (${m.reason})`),
    ...skipped.map((s) => `skipped:   ${s.path} (${s.code})`),
    `policy:    ${v.policyRevision}`,
    '',
  ];
  io.stdout(lines.join('\n'));
}
