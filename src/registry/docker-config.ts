import { readFile } from 'node:fs/promises';
import type { RegistryCredentials } from './credentials.js';
import { bestMatch } from './image-match.js';

/** The Docker `config.json` files the kubelet reads, in its order (the first one found is used). */
export const KUBELET_DOCKER_CONFIG_FILES: readonly string[] = Object.freeze([
  '/var/lib/kubelet/config.json',
  '/root/.docker/config.json',
  '/.docker/config.json',
]);

/** Largest config.json read. */
const MAX_CONFIG_BYTES = 1024 * 1024;

/** Docker Hub's legacy keys name the registry criguard calls `docker.io`. */
const DOCKER_HUB_KEYS = new Set(['https://index.docker.io/v1/', 'index.docker.io', 'registry-1.docker.io']);

/**
 * Reads the first of `files` that exists and returns its `auths` as (pattern, credentials) pairs. A file that
 * exists but cannot be parsed yields none (the kubelet stops at the first file it finds, too). Never throws;
 * never logs contents.
 */
export async function readDockerConfig(
  files: readonly string[],
): Promise<Array<readonly [string, RegistryCredentials]>> {
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    if (text.length > MAX_CONFIG_BYTES) return [];
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return [];
    }
    const auths = (doc as { auths?: unknown } | null)?.auths;
    if (typeof auths !== 'object' || auths === null) return [];
    const out: Array<readonly [string, RegistryCredentials]> = [];
    for (const [key, value] of Object.entries(auths as Record<string, unknown>).slice(0, 256)) {
      if (typeof value !== 'object' || value === null) continue;
      const v = value as Record<string, unknown>;
      const str = (name: string) =>
        typeof v[name] === 'string' && v[name] !== '' ? (v[name] as string) : undefined;
      const credentials: RegistryCredentials = {
        username: str('username'),
        password: str('password'),
        auth: str('auth'),
        identityToken: str('identitytoken'),
        registryToken: str('registrytoken'),
      };
      out.push([DOCKER_HUB_KEYS.has(key) ? 'docker.io' : key, Object.freeze(credentials)]);
    }
    return out;
  }
  return [];
}

/** Credentials of a config.json for `image` (the most specific matching key), if any. */
export function dockerConfigCredentials(
  auths: Iterable<readonly [string, RegistryCredentials]>,
  image: string,
): RegistryCredentials | undefined {
  return bestMatch(auths, image);
}
