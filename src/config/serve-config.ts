import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { LOG_LEVELS, type LogLevel } from '../log/logger.js';
import { configError, toSocketPath } from './socket-address.js';

/** The settings of `criguard serve`, after defaults, the config file and flags were merged. */
export interface ServeConfig {
  readonly listen: string;
  readonly upstream: string;
  readonly socketMode: number;
  readonly logLevel: LogLevel;
  readonly shutdownTimeoutSeconds: number;
}

export const DEFAULT_SERVE_CONFIG: ServeConfig = Object.freeze({
  listen: '/run/criguard/criguard.sock',
  upstream: '/run/containerd/containerd.sock',
  socketMode: 0o660,
  logLevel: 'info',
  shutdownTimeoutSeconds: 10,
});

const octalMode = z.union([
  z.string().regex(/^0?[0-7]{3}$/, 'must be an octal mode such as "0660"'),
  z.number().int().min(0).max(0o777),
]);

/** The config file's schema: camelCase keys, unknown keys rejected. Every key is optional. */
const fileSchema = z.strictObject({
  listen: z.string().min(1).optional(),
  upstream: z.string().min(1).optional(),
  socketMode: octalMode.optional(),
  logLevel: z.enum(LOG_LEVELS).optional(),
  shutdownTimeoutSeconds: z.number().positive().max(600).optional(),
});

export type ServeConfigInput = z.input<typeof fileSchema>;

/**
 * Merges defaults ← config file (YAML or JSON) ← flags, validates, and normalises socket addresses to
 * absolute paths. Throws CG_ERR_CONFIG with every problem, each with its field path, in one message.
 */
export function loadServeConfig(options: {
  readonly file: string | undefined;
  readonly flags: ServeConfigInput;
  readonly cwd: string;
}): ServeConfig {
  const fromFile = options.file === undefined ? {} : parseFile(options.file);
  const merged = { ...fromFile, ...stripUndefined(options.flags) };
  const result = fileSchema.safeParse(merged);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw configError(
      `invalid configuration${options.file ? ` (${options.file})` : ''}:\n${lines.join('\n')}`,
    );
  }
  const c = result.data;
  const mode = c.socketMode ?? DEFAULT_SERVE_CONFIG.socketMode;
  return Object.freeze({
    listen: toSocketPath(c.listen ?? DEFAULT_SERVE_CONFIG.listen, options.cwd),
    upstream: toSocketPath(c.upstream ?? DEFAULT_SERVE_CONFIG.upstream, options.cwd),
    socketMode: typeof mode === 'string' ? parseInt(mode, 8) : mode,
    logLevel: c.logLevel ?? DEFAULT_SERVE_CONFIG.logLevel,
    shutdownTimeoutSeconds: c.shutdownTimeoutSeconds ?? DEFAULT_SERVE_CONFIG.shutdownTimeoutSeconds,
  });
}

function parseFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw configError(
      `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  let value: unknown;
  try {
    value = parseYaml(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (err) {
    throw configError(`config file ${file} is not valid YAML/JSON: ${(err as Error).message}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw configError(`config file ${file} must hold a mapping`);
  return value as Record<string, unknown>;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
