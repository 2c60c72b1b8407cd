import { PolicyLoadError } from '../policy/errors.js';
import type { PolicyWarning } from '../policy/warnings.js';
import { loadPolicyFiles } from '../policy-files/load-policy-files.js';
import type { Command, CommandIo } from './command.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { parseOptions } from './parse-options.js';
import { explainImage, formatExplanation } from './policy-explain.js';
import { parseImageArgument } from './sign.js';

/** `criguard policy check`: loads a policy with the daemon's code; exit 0 valid, 2 invalid (every issue printed). */
export const policyCheckCommand: Command = {
  name: 'policy check',
  summary: 'validate a policy file (and attestor files); print every problem',
  usage: [
    'Usage: criguard policy check [--attestors-dir DIR] [--cluster LOCATION.CLUSTER] [--output text|json]',
    '                             [--image NAME@sha256:DIGEST [--namespace NS]] FILE',
    '',
    'With --image, also prints the rule and image rules that image meets and the attestors it needs.',
    'Fields accepted but without effect on this node are printed as warnings (stderr; "warnings" in JSON).',
    'Exit codes: 0 valid, 2 invalid (each problem with its file, field path and code), 64 usage.',
  ].join('\n'),
  async run(args, io) {
    const { values, positionals } = parseOptions(
      args,
      {
        'attestors-dir': { type: 'string' },
        cluster: { type: 'string' },
        output: { type: 'string' },
        image: { type: 'string' },
        namespace: { type: 'string' },
      },
      true,
    );
    if (positionals.length !== 1) throw new UsageError('expected exactly one policy FILE');
    const output = values.output ?? 'text';
    if (output !== 'text' && output !== 'json') throw new UsageError('--output must be text or json');
    const image = values.image === undefined ? undefined : parseImageArgument([values.image]);
    try {
      const policy = await loadPolicyFiles({
        policyPath: positionals[0] ?? '',
        attestorsDir: values['attestors-dir'],
        cluster: values.cluster,
      });
      const summary = {
        valid: true,
        revision: policy.revision,
        attestors: [...policy.attestors.keys()],
        namespaceRules: policy.namespaceRules.size,
        clusterRules: policy.clusterRules.size,
        allowlistEntries: policy.allowlist.size,
        imageRules: policy.imageRules?.length ?? 0,
        systemPolicy: policy.system === undefined ? null : { version: policy.system.version },
        warnings: policy.warnings,
        ...(image === undefined ? {} : { image: explainImage(policy, image, values.namespace ?? 'default') }),
      };
      io.stdout(
        output === 'json'
          ? `${JSON.stringify(summary, null, 2)}\n`
          : `OK ${positionals[0] ?? ''}\nrevision: ${summary.revision}\nattestors: ${summary.attestors.join(', ') || '(none)'}\n` +
              `rules: ${summary.namespaceRules} namespace, ${summary.clusterRules} cluster; allowlist entries: ${summary.allowlistEntries}\n` +
              (policy.system === undefined
                ? ''
                : `system policy: enabled (built-in version ${policy.system.version}; sandbox image read from containerd by serve)\n`) +
              (summary.image === undefined ? '' : formatExplanation(summary.image)),
      );
      if (output === 'text') printWarnings(io, policy.warnings);
      return ExitCode.OK;
    } catch (err) {
      if (!(err instanceof PolicyLoadError)) throw err;
      if (output === 'json') io.stdout(`${JSON.stringify({ valid: false, issues: err.issues }, null, 2)}\n`);
      else printIssues(io, err);
      return ExitCode.INVALID_INPUT;
    }
  },
};

/** Prints each field without effect, one per line on stderr: `warning: source: path: message`. */
export function printWarnings(io: CommandIo, warnings: readonly PolicyWarning[]): void {
  for (const w of warnings) io.stderr(`warning: ${w.source}: ${w.path}: ${w.message}\n`);
}

/** Prints every issue of a failed load, one per line: `source: path: CODE: message`. */
export function printIssues(io: CommandIo, err: PolicyLoadError): void {
  io.stderr(`invalid policy: ${err.issues.length} problem(s)\n`);
  for (const i of err.issues) io.stderr(`${i.source}: ${i.path}: ${i.code}: ${i.message}\n`);
}
