import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isMap, parseDocument } from 'yaml';
import { InstallError } from './errors.js';
import { serveDefaults } from './host-layout.js';

/** Files of a config source (a ConfigMap mount), by file name. */
export type ConfigFiles = ReadonlyMap<string, Buffer>;

/** Never taken from a config source: the breakglass file is node-local by design (docs/operations.md). */
const NODE_LOCAL = new Set(['breakglass.yaml']);
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Reads every regular file of `dir` (following the symlinks a ConfigMap volume uses, skipping its
 * dot-entries). YAML files must parse as mappings. Throws CG_ERR_INSTALL_CONFIG_SOURCE before anything on
 * the host is changed. Skipped files are reported through `warn`.
 */
export async function readConfigSource(dir: string, warn: (message: string) => void): Promise<ConfigFiles> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    throw new InstallError('CG_ERR_INSTALL_CONFIG_SOURCE', `cannot read config source ${dir}`, {
      cause: err,
    });
  }
  const files = new Map<string, Buffer>();
  for (const name of entries.sort()) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    // A dangling link is a key the kubelet's atomic ConfigMap update is removing right now.
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) continue;
    if (!SAFE_NAME.test(name) || NODE_LOCAL.has(name)) {
      warn(`config source: ${name} skipped (node-local or not a plain file name)`);
      continue;
    }
    const content = await readFile(path);
    if (/\.ya?ml$/.test(name)) parseYamlMapping(content.toString('utf8'), `${dir}/${name}`);
    files.set(name, content);
  }
  if (!files.has('config.yaml')) {
    throw new InstallError('CG_ERR_INSTALL_CONFIG_SOURCE', `config source ${dir} has no config.yaml`);
  }
  return files;
}

/** The `criguard serve` settings the installer needs from a config.yaml (defaults where absent). */
export interface ServeSettings {
  readonly listen: string;
  readonly metricsAddress: string;
}

/** Reads `listen` and `metricsAddress` from config.yaml text. Throws CG_ERR_INSTALL_CONFIG_SOURCE. */
export function readServeSettings(configYaml: string | undefined, where: string): ServeSettings {
  const map = configYaml === undefined ? {} : parseYamlMapping(configYaml, where);
  const pick = (key: keyof ServeSettings): string => {
    const value = map[key];
    if (value === undefined || value === null) return serveDefaults[key];
    if (typeof value !== 'string' || value === '') {
      throw new InstallError('CG_ERR_INSTALL_CONFIG_SOURCE', `${where}: ${key} must be a non-empty string`);
    }
    return value;
  };
  return { listen: pick('listen'), metricsAddress: pick('metricsAddress') };
}

function parseYamlMapping(text: string, where: string): Record<string, unknown> {
  const doc = parseDocument(text);
  if (doc.errors.length > 0 || !(isMap(doc.contents) || doc.contents === null)) {
    throw new InstallError(
      'CG_ERR_INSTALL_CONFIG_SOURCE',
      `${where} is not a YAML mapping${doc.errors[0] ? `: ${doc.errors[0].message}` : ''}`,
    );
  }
  return (doc.toJS() ?? {}) as Record<string, unknown>;
}
