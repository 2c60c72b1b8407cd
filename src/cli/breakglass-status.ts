import { DEFAULT_BREAKGLASS_PATH } from '../breakglass/defaults.js';
import { loadBreakglass } from '../breakglass/load.js';
import { evaluateBreakglass } from '../breakglass/status.js';
import type { Command } from './command.js';
import { toMaxWindowMs, formatStatus } from './breakglass-shared.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { parseOptions } from './parse-options.js';

/**
 * `criguard breakglass status`: reads the file with the daemon's checks and prints whether it is active,
 * absent, expired or invalid (with the problem code). Exit 0 only when active; 1 otherwise; 64 usage.
 */
export const breakglassStatusCommand: Command = {
  name: 'breakglass status',
  summary: 'show whether a breakglass is active on this node, for what, until when, or why it is ignored',
  usage: [
    'Usage: criguard breakglass status [--file PATH] [--max-window DURATION] [--output text|json]',
    '',
    `Reads ${DEFAULT_BREAKGLASS_PATH} (or --file) with the same safety checks as the daemon.`,
    '--max-window must match the daemon (default 24h).',
    'Exit codes: 0 active, 1 absent, expired or invalid, 64 usage.',
  ].join('\n'),
  async run(args, io) {
    const { values } = parseOptions(
      args,
      { file: { type: 'string' }, 'max-window': { type: 'string' }, output: { type: 'string' } },
      false,
    );
    const output = values.output ?? 'text';
    if (output !== 'text' && output !== 'json') throw new UsageError('--output must be text or json');
    const path = values.file ?? DEFAULT_BREAKGLASS_PATH;
    const maxWindowMs = toMaxWindowMs(values['max-window']);
    const now = Date.now();
    const status = evaluateBreakglass(loadBreakglass(path), now, maxWindowMs);
    io.stdout(
      output === 'json'
        ? `${JSON.stringify({ file: path, ...status }, null, 2)}\n`
        : formatStatus(path, status, now),
    );
    return status.state === 'active' ? ExitCode.OK : ExitCode.DENIED_OR_FAILED;
  },
};
