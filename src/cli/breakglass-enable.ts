import { stringify } from 'yaml';
import { DEFAULT_BREAKGLASS_PATH } from '../breakglass/defaults.js';
import { parseBreakglassDocument, type BreakglassFileContent } from '../breakglass/document.js';
import { formatDuration, parseDuration } from '../breakglass/duration.js';
import { loadBreakglass } from '../breakglass/load.js';
import { evaluateBreakglass } from '../breakglass/status.js';
import { writeBreakglassFileAtomically } from '../breakglass/write-file.js';
import type { Command } from './command.js';
import { describeScope, formatStatus, toMaxWindowMs } from './breakglass-shared.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { parseOptions, requireOption } from './parse-options.js';

/**
 * `criguard breakglass enable`: writes the breakglass file atomically (root, 0600; directory 0700 if
 * created), after validating it with the daemon's parser, then reads it back with the daemon's checks.
 * Exit 0 when it is active; 1 when it could not be written or would be ignored (the problem is printed);
 * 64 for usage errors (no scope, bad duration, duration above --max-window, invalid value).
 */
export const breakglassEnableCommand: Command = {
  name: 'breakglass enable',
  summary: 'open an expiring, scoped enforcement override on this node',
  usage: [
    'Usage: criguard breakglass enable --reason TEXT --duration DURATION',
    '         (--all | [--namespace NS]... [--image PATTERN]... [--digest sha256:HEX]...)',
    '         [--ticket ID] [--created-by WHO] [--file PATH] [--max-window DURATION]',
    '',
    `Writes ${DEFAULT_BREAKGLASS_PATH} (or --file) atomically, owned by root, mode 0600.`,
    'DURATION: 90m, 2h, 1h30m; at most --max-window (default 24h, must match the daemon).',
    'A scope is required: --all explicitly, or namespaces, image name patterns (`*`, `**`) and/or digests;',
    'a request must match every kind given (e.g. --namespace AND --image).',
    'Exit codes: 0 active, 1 not written or not honoured, 64 usage.',
  ].join('\n'),
  async run(args, io) {
    const { values } = parseOptions(
      args,
      {
        reason: { type: 'string' },
        duration: { type: 'string' },
        namespace: { type: 'string', multiple: true },
        image: { type: 'string', multiple: true },
        digest: { type: 'string', multiple: true },
        all: { type: 'boolean' },
        ticket: { type: 'string' },
        'created-by': { type: 'string' },
        file: { type: 'string' },
        'max-window': { type: 'string' },
      },
      false,
    );
    const reason = requireOption(values.reason, 'reason');
    const durationText = requireOption(values.duration, 'duration');
    const durationMs = parseDuration(durationText);
    if (durationMs === undefined) {
      throw new UsageError(`--duration: "${durationText}" is not a duration like 90m, 2h or 1h30m`);
    }
    const maxWindowMs = toMaxWindowMs(values['max-window']);
    if (durationMs > maxWindowMs) {
      throw new UsageError(
        `--duration ${formatDuration(durationMs)} is above the maximum window ${formatDuration(maxWindowMs)} (--max-window)`,
      );
    }
    const narrow = { namespaces: values.namespace, images: values.image, digests: values.digest };
    const hasNarrow = Object.values(narrow).some((v) => v !== undefined);
    if (values.all && hasNarrow)
      throw new UsageError('--all cannot be combined with --namespace, --image or --digest');
    if (!values.all && !hasNarrow) {
      throw new UsageError('say what the breakglass covers: --all, or --namespace, --image and/or --digest');
    }
    const path = values.file ?? DEFAULT_BREAKGLASS_PATH;
    const now = Date.now();
    const createdBy = values['created-by'] ?? io.env.SUDO_USER ?? io.env.USER;
    const content: BreakglassFileContent = {
      reason,
      ...(values.ticket !== undefined && { ticket: values.ticket }),
      ...(createdBy !== undefined && createdBy !== '' && { createdBy }),
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + durationMs).toISOString(),
      scope: values.all
        ? { all: true }
        : Object.fromEntries(Object.entries(narrow).filter(([, v]) => v !== undefined)),
      end: true, // the end marker, last: a half-written file never parses (docs/breakglass.md)
    };
    const text = `# criguard breakglass: written by \`criguard breakglass enable\`; remove with \`criguard breakglass disable\`.\n${stringify(content)}`;
    const checked = parseBreakglassDocument(Buffer.from(text, 'utf8'));
    if (!checked.ok) throw new UsageError(`${checked.problem.code}: ${checked.problem.message}`);

    try {
      writeBreakglassFileAtomically(path, text);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const hint = e.code === 'EPERM' ? ' (run as root: the file must be owned by root)' : '';
      io.stderr(`criguard breakglass enable: cannot write ${path}: ${e.code ?? ''} ${e.message}${hint}\n`);
      return ExitCode.DENIED_OR_FAILED;
    }
    const status = evaluateBreakglass(loadBreakglass(path), Date.now(), maxWindowMs);
    if (status.state !== 'active') {
      io.stderr(`criguard breakglass enable: wrote ${path}, but the daemon would ignore it:\n`);
      io.stderr(formatStatus(path, status, Date.now()));
      return ExitCode.DENIED_OR_FAILED;
    }
    io.stdout(
      [
        `breakglass enabled on this node until ${status.expiresAt ?? ''} (${formatDuration(durationMs)})`,
        `file: ${path} (root, 0600)`,
        `sha256: ${status.fileSha256 ?? ''}`,
        `scope: ${status.scope ? describeScope(status.scope) : ''}`,
        `reason: ${status.reason ?? ''}`,
        ...(status.ticket ? [`ticket: ${status.ticket}`] : []),
        'Every decision it changes is audited. Close it with: criguard breakglass disable',
        '',
      ].join('\n'),
    );
    return ExitCode.OK;
  },
};
