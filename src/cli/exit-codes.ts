import { CriguardError } from '../errors/criguard-error.js';

/**
 * Process exit codes of every criguard command. Documented in docs/cli.md; stable across releases.
 */
export const ExitCode = Object.freeze({
  /** Success; for `verify`, the image is allowed. */
  OK: 0,
  /** `verify`: the image is denied. Other commands: a runtime failure. */
  DENIED_OR_FAILED: 1,
  /** Invalid input file (policy, config, breakglass): every error is printed with its field path. */
  INVALID_INPUT: 2,
  /** `policy simulate`: the candidate policy would deny at least one running container. */
  WOULD_DENY_RUNNING: 3,
  /** Wrong command-line usage (sysexits EX_USAGE). */
  USAGE: 64,
} as const);
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Thrown by command parsers for a bad command line; the router prints `message` plus a hint and exits 64. */
export class UsageError extends CriguardError<'CG_ERR_USAGE'> {
  constructor(message: string) {
    super('CG_ERR_USAGE', message);
    this.name = 'UsageError';
  }
}
