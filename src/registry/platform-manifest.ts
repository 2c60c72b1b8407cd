import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { readRegularFileSync } from '../files/read-regular-file.js';
import { dirname } from 'node:path';
import { LRUCache } from 'lru-cache';
import type { RegistryCredentials } from './credentials.js';
import { RegistryError } from './errors.js';
import { isDigest, parseDigest } from '../reference/digest.js';
import { DOCKER_MANIFEST_LIST, OCI_INDEX } from './media-types.js';
import { digestOf } from './registry-responses.js';
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

/**
 * A platform as containerd normalises it before matching (its `platforms.Normalize`): OS lower-cased
 * (`macos` → `darwin`, empty → `linux`, the node's OS), architecture aliases (`x86_64`, `x86-64` →
 * `amd64`; `aarch64` → `arm64`; `i386` → `386`; `armhf` → `arm/v7`; `armel` → `arm/v6`) and variants
 * (`amd64/v1` → `amd64`; `arm64/v8`, `8`, `v8.0` → `arm64`; `arm` → `arm/v7`; `arm/5` → `arm/v5`, …).
 * Anything that is not a string counts as empty.
 */
export function normalizePlatform(platform: { os?: unknown; architecture?: unknown; variant?: unknown }): {
  os: string;
  architecture: string;
  variant: string;
} {
  const text = (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : '');
  let os = text(platform.os);
  if (os === '') os = 'linux';
  if (os === 'macos') os = 'darwin';
  let architecture = text(platform.architecture);
  let variant = text(platform.variant);
  switch (architecture) {
    case 'i386':
      architecture = '386';
      variant = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      architecture = 'amd64';
      if (variant === 'v1') variant = '';
      break;
    case 'aarch64':
    case 'arm64':
      architecture = 'arm64';
      if (variant === '8' || variant === 'v8' || variant === 'v8.0') variant = '';
      else if (variant === '9' || variant === '9.0' || variant === 'v9.0') variant = 'v9';
      break;
    case 'armhf':
      architecture = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      architecture = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === '' || variant === '7') variant = 'v7';
      else if (variant === '5' || variant === '6' || variant === '8') variant = `v${variant}`;
      break;
  }
  return { os, architecture, variant };
}

/**
 * The platforms containerd accepts for a node, best first (its `platforms.Only`): the node's own, then
 * what it can also run (`amd64/vN` → lower amd64 levels, then `386`; `arm64` → `arm/v8` … `arm/v5`;
 * `arm/vN` → lower arm variants). Normalised.
 */
export function acceptedPlatforms(node: Platform): Array<ReturnType<typeof normalizePlatform>> {
  const own = normalizePlatform(node);
  const vector = [own];
  const level = (v: string) => Number.parseInt(v.replace(/^v/, ''), 10);
  const armDown = (from: number) => {
    for (let v = from; v >= 5; v--) vector.push({ os: own.os, architecture: 'arm', variant: `v${v}` });
  };
  if (own.architecture === 'amd64') {
    const v = level(own.variant);
    if (v > 1) for (let l = v - 1; l >= 1; l--) vector.push({ ...own, variant: l === 1 ? '' : `v${l}` });
    vector.push({ os: own.os, architecture: '386', variant: '' });
  } else if (own.architecture === 'arm') {
    const v = level(own.variant);
    if (v > 5) armDown(v - 1);
  } else if (own.architecture === 'arm64') {
    armDown(8);
  }
  return vector;
}

interface IndexDocument {
  mediaType?: string;
  manifests?: Array<{
    digest?: unknown;
    platform?: { os?: unknown; architecture?: unknown; variant?: unknown } | null;
  }>;
}

type IndexEntry = NonNullable<IndexDocument['manifests']>[number];

/** containerd's choice among an index's entries for the accepted platforms (best first); undefined: none. */
export function choosePlatformEntry(
  entries: readonly IndexEntry[],
  accepted: ReadonlyArray<ReturnType<typeof normalizePlatform>>,
): IndexEntry | undefined {
  const rank = (entry: IndexEntry): number => {
    if (entry.platform === undefined || entry.platform === null) return accepted.length;
    const p = normalizePlatform(entry.platform);
    return accepted.findIndex(
      (a) => a.os === p.os && a.architecture === p.architecture && a.variant === p.variant,
    );
  };
  let best: { entry: IndexEntry; rank: number } | undefined;
  for (const entry of entries) {
    const r = rank(entry);
    if (r >= 0 && (best === undefined || r < best.rank)) best = { entry, rank: r };
  }
  return best?.entry;
}

/** Manifests known locally by digest (an air-gapped node's imported ones); bytes are hash-checked here too. */
export interface LocalManifests {
  get(digest: string): Promise<Uint8Array | undefined>;
}

/**
 * Finds, inside a multi-arch index, the manifest containerd will pull for `platform`: the index bytes are
 * fetched by digest (the client checks their hash), every entry's platform is normalised and matched as
 * containerd does, and containerd's choice is taken (the best accepted platform, the first such entry);
 * then that manifest is fetched (hash-checked) for its config digest, the image id containerd will
 * report. Resolves to undefined when
 * `digest` is not an index or has no entry for the platform; rejects with RegistryError
 * (`CG_ERR_REGISTRY_PROTOCOL` for an ambiguous or malformed index, or the client's codes). Found
 * manifests are cached by index digest: content-addressed, they never change. With `persistPath` they
 * are loaded from and saved to that file; `readOnly` loads them and never writes (`policy simulate`).
 * With `local`, the index and platform manifest are read there first (bytes that hash to the digest asked
 * for), the registry only for what it lacks: a node that never reaches a registry finds the platform of an
 * imported index. Without `client` (offline), a manifest missing from `local` resolves to undefined.
 */
export function createPlatformManifestResolver(
  client: Pick<RegistryClient, 'getManifest'> | undefined,
  platform: Platform = nodePlatform(),
  persistPath?: string,
  local?: LocalManifests,
  readOnly = false,
) {
  const cache = new LRUCache<string, PlatformManifest>({ max: 4096 });
  // Found mappings are kept across restarts: CreateContainer carries no registry credentials, so after a
  // restart a private index could not be read again, and its containers could not restart. A mapping is
  // a fact about content (this manifest has that config), so one made by an older matcher is still true;
  // which entry runs is bound separately (the image id containerd reports must be its config).
  if (persistPath !== undefined) for (const [key, value] of loadMappings(persistPath)) cache.set(key, value);
  const persist = () => {
    if (persistPath === undefined || readOnly) return;
    try {
      mkdirSync(dirname(persistPath), { recursive: true, mode: 0o700 });
      const temp = `${persistPath}.${process.pid}.tmp`;
      writeFileSync(temp, JSON.stringify(Object.fromEntries(cache.entries())), { mode: 0o600 });
      renameSync(temp, persistPath);
    } catch {
      /* best effort: the registry is asked again */
    }
  };
  const manifestBytes = async (
    name: string,
    digest: string,
    credentials: RegistryCredentials | undefined,
    signal: AbortSignal,
  ): Promise<Uint8Array | undefined> => {
    const stored = await local?.get(digest).catch(() => undefined);
    if (stored !== undefined && digestOf(stored, parseDigest(digest).algorithm) === digest) return stored;
    if (client === undefined) return undefined;
    return (await client.getManifest(name, digest, { credentials, signal })).bytes;
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
      const index = await manifestBytes(image.name, image.digest, credentials, signal);
      if (index === undefined) return undefined;
      // Decided from the verified bytes, not the Content-Type header: an index lists manifests and has
      // neither layers nor config; anything ambiguous is refused.
      const document = parse(index) as IndexDocument & { layers?: unknown; config?: unknown };
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
      // As containerd picks: entries of an accepted platform, best first, index order among equals;
      // entries without a platform last (containerd would then look at their config: we refuse).
      const chosen = choosePlatformEntry(document.manifests ?? [], acceptedPlatforms(platform));
      if (chosen === undefined) return undefined;
      if (chosen.platform === undefined || chosen.platform === null) {
        throw new RegistryError(
          'CG_ERR_REGISTRY_PROTOCOL',
          `${key}: the entry containerd would take for ${platform.os}/${platform.architecture} has no platform`,
        );
      }
      if (typeof chosen.digest !== 'string') {
        throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', `${key}: an index entry without a digest`);
      }
      const digest = chosen.digest;
      if (!isDigest(digest)) {
        throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', `${key}: an index entry with a bad digest`);
      }
      const manifest = await manifestBytes(image.name, digest, credentials, signal);
      if (manifest === undefined) return undefined;
      const platformDocument = parse(manifest) as {
        config?: { digest?: unknown };
        manifests?: unknown;
      };
      if (platformDocument.manifests !== undefined) {
        throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', `${image.name}@${digest}: a nested index`);
      }
      const configDigest = platformDocument.config?.digest;
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
