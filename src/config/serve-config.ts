import { readRegularFileSync } from '../files/read-regular-file.js';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import {
  SERVE_SETTINGS,
  SETTING_KEYS,
  settingOf,
  type ServeConfig,
  type SettingKey,
  type SettingKind,
} from './serve-settings.js';
import { configError, toSocketPath } from './socket-address.js';

export type { ServeConfig } from './serve-settings.js';

/** Settings as a config file holds them (camelCase keys, groups as nested mappings); every key optional. */
export type ServeConfigInput = Record<string, unknown>;

/** The config file's schema, generated from the settings table: unknown keys rejected, every key optional. */
const fileSchema = buildFileSchema();

/** The defaults, normalised as the daemon sees them (relative to `/`). */
export const DEFAULT_SERVE_CONFIG: ServeConfig = normalise({}, '/');

/**
 * Merges defaults ← config file (YAML or JSON) ← flags (`flags` in the config file's shape, e.g. from
 * `flagsToInput`), validates, and normalises socket addresses and paths to absolute paths. Throws
 * CG_ERR_CONFIG with every problem, each with its field path, in one message.
 */
export function loadServeConfig(options: {
  readonly file: string | undefined;
  readonly flags: ServeConfigInput;
  readonly cwd: string;
}): ServeConfig {
  const fromFile = options.file === undefined ? {} : parseFile(options.file);
  const merged = mergeInput(fromFile, options.flags);
  const result = fileSchema.safeParse(merged);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw configError(
      `invalid configuration${options.file ? ` (${options.file})` : ''}:\n${lines.join('\n')}`,
    );
  }
  const config = normalise(result.data as ServeConfigInput, options.cwd);
  const n = config.nodeCredentials;
  if ((n.credentialProviderConfig === undefined) !== (n.credentialProviderBinDir === undefined))
    throw configError(
      `invalid configuration${options.file ? ` (${options.file})` : ''}:\n  nodeCredentials: credentialProviderConfig and credentialProviderBinDir go together`,
    );
  return config;
}

/** Sets `key` (dotted for groups) in a config-file-shaped object; undefined values are skipped. */
export function setInput(input: ServeConfigInput, key: SettingKey, value: unknown): void {
  if (value === undefined) return;
  const [group, name] = splitKey(key);
  if (name === undefined) {
    input[group] = value;
    return;
  }
  const existing = input[group];
  const target = typeof existing === 'object' && existing !== null ? (existing as ServeConfigInput) : {};
  target[name] = value;
  input[group] = target;
}

function buildFileSchema() {
  const top: Record<string, z.ZodType> = {};
  const groups: Record<string, Record<string, z.ZodType>> = {};
  for (const key of SETTING_KEYS) {
    const [group, name] = splitKey(key);
    const schema = settingOf(key).schema.optional();
    if (name === undefined) top[group] = schema;
    else (groups[group] ??= {})[name] = schema;
  }
  for (const [group, shape] of Object.entries(groups)) top[group] = z.strictObject(shape).optional();
  return z.strictObject(top);
}

/** Each validated value (or its default) normalised by its kind, then frozen in ServeConfig's shape. */
function normalise(input: ServeConfigInput, cwd: string): ServeConfig {
  const out: ServeConfigInput = {};
  for (const key of SETTING_KEYS) {
    const [group, name] = splitKey(key);
    const given = name === undefined ? input[group] : (input[group] as ServeConfigInput | undefined)?.[name];
    const setting = settingOf(key);
    setInput(out, key, normaliseValue(setting.kind, given ?? setting.default, cwd));
    if (name === undefined && !(group in out)) out[group] = undefined;
  }
  for (const key of SETTING_KEYS) {
    const [group, name] = splitKey(key);
    if (name !== undefined) Object.freeze(out[group]);
  }
  return Object.freeze(out) as unknown as ServeConfig;
}

function normaliseValue(kind: SettingKind, value: unknown, cwd: string): unknown {
  if (value === undefined) return undefined;
  switch (kind) {
    case 'socket':
      return toSocketPath(value as string, cwd);
    case 'path':
      return resolve(cwd, value as string);
    case 'output':
      return value === '-' ? '-' : resolve(cwd, value as string);
    case 'paths':
      return Object.freeze((value as string[]).map((p) => resolve(cwd, p)));
    case 'mode':
      return typeof value === 'string' ? parseInt(value, 8) : value;
    case 'value':
      return Object.freeze(value);
    case 'number':
    case 'boolean':
    case 'text':
      return value;
  }
}

/** `base` with `over`'s values on top; groups are merged key by key. */
function mergeInput(base: ServeConfigInput, over: ServeConfigInput): ServeConfigInput {
  const merged: ServeConfigInput = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const current = merged[key];
    const isGroup = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
    merged[key] =
      isGroup(value) && isGroup(current) && !(key in SERVE_SETTINGS)
        ? { ...(current as object), ...(value as object) }
        : value;
  }
  return merged;
}

function splitKey(key: SettingKey): [string, string | undefined] {
  const dot = key.indexOf('.');
  return dot === -1 ? [key, undefined] : [key.slice(0, dot), key.slice(dot + 1)];
}

function parseFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readRegularFileSync(file, { maxBytes: 1024 * 1024 }).bytes.toString('utf8');
  } catch (err) {
    throw configError(`cannot read config file ${file}: ${(err as Error).message}`);
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
