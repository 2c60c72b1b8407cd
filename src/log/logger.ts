import { pino, type Logger } from 'pino';
import type { LogLevel } from './levels.js';

export type { Logger } from 'pino';
export { LOG_LEVELS, type LogLevel } from './levels.js';

/**
 * The daemon's structured logger: one JSON object per line on `destination` (stdout by default), with an
 * ISO timestamp and the level as a word. Never give it credentials: callers log names and digests only.
 */
export function createLogger(level: LogLevel, destination: NodeJS.WritableStream = process.stdout): Logger {
  return pino(
    {
      level,
      base: { service: 'criguard' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
