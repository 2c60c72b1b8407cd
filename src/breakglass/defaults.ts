import { SERVE_SETTINGS } from '../config/serve-settings.js';

/** Where the daemon and the CLI look for the breakglass file unless told otherwise. */
export const DEFAULT_BREAKGLASS_PATH = SERVE_SETTINGS.breakglassFile.default;

/** Default maximum breakglass window, from now (the daemon's `breakglassMaxWindowHours`). */
export const DEFAULT_MAX_WINDOW_MS = SERVE_SETTINGS.breakglassMaxWindowHours.default * 60 * 60 * 1000;
