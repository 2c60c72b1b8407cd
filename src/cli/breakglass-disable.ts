import { DEFAULT_BREAKGLASS_PATH } from '../breakglass/defaults.js';
import { removeBreakglassFile } from '../breakglass/write-file.js';
import type { Command } from './command.js';
import { ExitCode } from './exit-codes.js';
import { parseOptions } from './parse-options.js';

/**
 * `criguard breakglass disable`: removes the breakglass file if it is a regular file or a symlink (never
 * following it). Exit 0 when removed or already absent; 1 when it is something else or cannot be removed.
 */
export const breakglassDisableCommand: Command = {
  name: 'breakglass disable',
  summary: 'remove the breakglass file; enforcement resumes within seconds',
  usage: [
    'Usage: criguard breakglass disable [--file PATH]',
    '',
    `Removes ${DEFAULT_BREAKGLASS_PATH} (or --file) if it is a regular file or a symlink.`,
    'Exit codes: 0 removed or already absent, 1 not removed, 64 usage.',
  ].join('\n'),
  async run(args, io) {
    const { values } = parseOptions(args, { file: { type: 'string' } }, false);
    const path = values.file ?? DEFAULT_BREAKGLASS_PATH;
    try {
      const result = removeBreakglassFile(path);
      io.stdout(
        result === 'removed'
          ? `breakglass disabled: removed ${path}; enforcement resumes within seconds\n`
          : `breakglass: nothing to remove (no file at ${path})\n`,
      );
      return ExitCode.OK;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      io.stderr(`criguard breakglass disable: ${e.code ?? 'error'}: ${e.message}\n`);
      return ExitCode.DENIED_OR_FAILED;
    }
  },
};
