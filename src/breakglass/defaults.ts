/** Where the daemon and the CLI look for the breakglass file unless told otherwise. */
export const DEFAULT_BREAKGLASS_PATH = '/etc/criguard/breakglass.yaml';

/** Default maximum breakglass window: 24 hours from now. */
export const DEFAULT_MAX_WINDOW_MS = 24 * 60 * 60 * 1000;
