import { SERVE_SETTINGS } from '../config/serve-settings.js';

/** Where the daemon and the CLI look for the quarantine file unless told otherwise. */
export const DEFAULT_QUARANTINE_PATH = SERVE_SETTINGS.quarantineFile.default;
