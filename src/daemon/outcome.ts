/**
 * How `criguard serve` ended. The daemon reports what happened; the CLI decides the exit code
 * (`src/cli/serve.ts`), so the daemon knows nothing of the command line.
 */
export type DaemonOutcome =
  /** Stopped by SIGTERM or SIGINT after draining: the normal end. */
  | { readonly kind: 'stopped'; readonly signal: NodeJS.Signals }
  /** The policy could not be loaded at start: nothing was served. */
  | { readonly kind: 'invalid-policy' }
  /** Could not start: the socket systemd passed, the proxy's socket, or the metrics endpoint. */
  | { readonly kind: 'failed'; readonly stage: 'socket-activation' | 'proxy' | 'metrics' };
