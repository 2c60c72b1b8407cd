import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { readRegularFileSync } from '../files/read-regular-file.js';
import { dirname } from 'node:path';
import { LRUCache } from 'lru-cache';
import type { RegistryCredentials } from './credentials.js';
import { RegistryError } from './errors.js';
import { DOCKER_MANIFEST_LIST, OCI_INDEX } from './media-types.js';
import type { RegistryClient } from './registry-client.js';

/** An OCI platform (`os`/`architecture`/optional `variant`). */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string | undefined;
}

/** The manifest an index holds for one platform, and that manifest's config digest (the image id). */
export interface PlatformManifest {
  readonly digest: string;
  readonly configDigest: string;
}

/** This process's platform in OCI terms (linux/amd64, linux/arm64, …). */
export function nodePlatform(arch: string = process.arch): Platform {
  const architecture =
    ({ x64: 'amd64', ia32: '386', ppc64: 'ppc64le' } as Record<string, string>)[arch] ?? arch;
  return { os: 'linux', architecture };
}

interface IndexDocument {
  mediaType?: string;
  manifests?: Array<{
    digest?: unknown;
    platform?: { os?: unknown; architecture?: unknown; variant?: unknown };
  }>;
}

/**
 * Finds, inside a multi-arch index, the manifest for `platform`: the index bytes are fetched by digest
 * (the client checks their hash), every entry is looked at (never just the first), and exactly one must
 * match; then that manifest is fetched (hash-checked) for its config digest. Resolves to undefined when
 * `digest` is not an index or has no entry for the platform; rejects with RegistryError
 * (`CG_ERR_REGISTRY_PROTOCOL` for an ambiguous or malformed index, or the client's codes). Found
 * manifests are cached by index digest: content-addressed, they never change.
 */
export function createPlatformManifestResolver(
  client: RegistryClient,
  platform: Platform = nodePlatform(),
  persistPath?: string,
) {
  const cache = new LRUCache<string, PlatformManifest>({ max: 4096 });
  // Found mappings are kept across restarts: CreateContainer carries no registry credentials, so after a
  // restart a private index could not be read again, and its containers could not restart.
  if (persistPath !== undefined) for (const [key, value] of loadMappings(persistPath)) cache.set(key, value);
  const persist = () => {
    if (persistPath === undefined) return;
    try {
      mkdirSync(dirname(persistPath), { recursive: true, mode: 0o700 });
      const temp = `${persistPath}.${process.pid}.tmp`;
      writeFileSync(temp, JSON.stringify(Object.fromEntries(cache.entries())), { mode: 0o600 });
      renameSync(temp, persistPath);
    } catch {
      /* best effort: the registry is asked again */
    }
  };
  return {
    async platformManifest(
      image: { readonly name: string; readonly digest: string },
      credentials: RegistryCredentials | undefined,
      signal: AbortSignal,
    ): Promise<PlatformManifest | undefined> {
      const key = `${image.name}@${image.digest}`;
      const known = cache.get(key);
      if (known !== undefined) return known;
      const index = await client.getManifest(image.name, image.digest, { credentials, signal });
      // Decided from the verified bytes, not the Content-Type header: an index lists manifests and has
      // neither layers nor config; anything ambiguous is refused.
      const document = parse(index.bytes) as IndexDocument & { layers?: unknown; config?: unknown };
      const listsManifests = Array.isArray(document.manifests);
      if (listsManifests && (document.layers !== undefined || document.config !== undefined)) {
        throw new RegistryError(
          'CG_ERR_REGISTRY_PROTOCOL',
          `${key}: a document that is both an index and a manifest`,
        );
      }
      if (
        !listsManifests ||
        (document.mediaType !== undefined &&
          document.mediaType !== OCI_INDEX &&
          document.mediaType !== DOCKER_MANIFEST_LIST)
      ) {
        return undefined;
      }
      const matches = (document.manifests ?? []).filter(
        (m) =>
          m.platform?.os === platform.os &&
          m.platform?.architecture === platform.architecture &&
          (platform.variant === undefined || m.platform?.variant === platform.variant),
      );
      if (matches.length === 0) return undefined;
      const digests = new Set(matches.map((m) => m.digest));
      if (digests.size !== 1 || typeof matches[0]!.digest !== 'string') {
        throw new RegistryError(
          'CG_ERR_REGISTRY_PROTOCOL',
          `${key}: the index names several manifests for ${platform.os}/${platform.architecture}`,
        );
      }
      const digest = matches[0]!.digest;
      const manifest = await client.getManifest(image.name, digest, { credentials, signal });
      const configDigest = (parse(manifest.bytes) as { config?: { digest?: unknown } }).config?.digest;
      if (typeof configDigest !== 'string') {
        throw new RegistryError(
          'CG_ERR_REGISTRY_PROTOCOL',
          `${image.name}@${digest}: a manifest without a config`,
        );
      }
      const found = { digest, configDigest };
      cache.set(key, found);
      persist();
      return found;
    },
  };
}

/** Persisted mappings; anything malformed is dropped (the registry is then asked again). */
function loadMappings(path: string): Array<[string, PlatformManifest]> {
  let value: unknown;
  try {
    value = JSON.parse(readRegularFileSync(path, { maxBytes: 16 * 1024 * 1024 }).bytes.toString('utf8'));
  } catch {
    return [];
  }
  if (typeof value !== 'object' || value === null) return [];
  const digest = /^sha256:[0-9a-f]{64}$/;
  return Object.entries(value as Record<string, unknown>).flatMap(([key, v]) => {
    const m = v as Partial<PlatformManifest> | null;
    return typeof m?.digest === 'string' &&
      digest.test(m.digest) &&
      typeof m.configDigest === 'string' &&
      digest.test(m.configDigest)
      ? [[key, { digest: m.digest, configDigest: m.configDigest }] as [string, PlatformManifest]]
      : [];
  });
}

function parse(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', 'a manifest that is not JSON');
  }
}
