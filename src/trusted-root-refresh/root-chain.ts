import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Metadata, MetadataKind } from '@tufjs/models';
import type { Root } from '@tufjs/models';
import type { Fetcher } from 'tuf-js';

/**
 * The cached TUF root (`root.json` of --cache-dir, which tuf-js trusts as is) is only used when it descends
 * from the operator's pinned root: the pinned root itself, or reached from it one version at a time, each
 * root signed by the threshold of the previous one's root keys and of its own (TUF 5.3.4/5.3.5). The roots
 * in between are kept in `roots/<version>.root.json` of the cache as they are fetched.
 */

/** Most root versions between the pinned root and the cached one (tuf-js' maxRootRotations). */
export const MAX_ROOT_CHAIN = 32;
const ROOTS = 'roots';
/** The files tuf-js keeps in its metadata directory, verified with the cached root. */
const CACHED_METADATA = ['root.json', 'timestamp.json', 'snapshot.json', 'targets.json'];

/**
 * Makes `metadataDir/root.json` a root descending from `pinned`: kept when it does; otherwise the cache is
 * started again from `pinned` (root.json, timestamp, snapshot, targets and kept roots removed, `pinned`
 * written with `write`) and the reason is returned, for a warning. Throws only the file system's errors.
 */
export function ensureCachedRootDescends(
  metadataDir: string,
  pinned: Buffer,
  bound: number,
  write: (path: string, bytes: Buffer) => void,
): string | undefined {
  const cachedPath = join(metadataDir, 'root.json');
  let why: string | undefined;
  if (existsSync(cachedPath)) {
    why = descentFailure(metadataDir, pinned, cachedPath, bound);
    if (why === undefined) return undefined;
    for (const name of CACHED_METADATA) rmSync(join(metadataDir, name), { force: true });
    rmSync(join(metadataDir, ROOTS), { recursive: true, force: true });
  }
  write(cachedPath, pinned);
  return why;
}

/** Why `cached` does not descend from `pinned`, or undefined when it does. */
function descentFailure(
  metadataDir: string,
  pinned: Buffer,
  cachedPath: string,
  bound: number,
): string | undefined {
  let cached: Buffer;
  try {
    cached = readBounded(cachedPath, bound);
  } catch (err) {
    return `the cached root.json cannot be read (${describe(err)})`;
  }
  if (cached.equals(pinned)) return undefined;
  let trusted: Metadata<Root>;
  let last: Metadata<Root>;
  try {
    trusted = rootOf(pinned);
    trusted.verifyDelegate(MetadataKind.Root, trusted);
  } catch (err) {
    return `the pinned root does not verify (${describe(err)})`;
  }
  try {
    last = rootOf(cached);
  } catch (err) {
    return `the cached root.json is not a TUF root (${describe(err)})`;
  }
  const from = trusted.signed.version;
  const to = last.signed.version;
  if (to <= from) return `the cached root.json is version ${to}, not newer than the pinned root's ${from}`;
  if (to - from > MAX_ROOT_CHAIN) return `the cached root.json is ${to - from} versions past the pinned root`;
  for (let version = from + 1; version <= to; version++) {
    const path = join(metadataDir, ROOTS, `${version}.root.json`);
    if (!existsSync(path))
      return `root version ${version} between the pinned root and the cached one is missing`;
    let bytes: Buffer;
    try {
      bytes = readBounded(path, bound);
      const next = rootOf(bytes);
      if (next.signed.version !== version) throw new Error(`it says version ${next.signed.version}`);
      trusted.verifyDelegate(MetadataKind.Root, next);
      next.verifyDelegate(MetadataKind.Root, next);
      trusted = next;
    } catch (err) {
      return `root version ${version} does not follow from the one before (${describe(err)})`;
    }
    if (version === to && !bytes.equals(cached)) return `the cached root.json is not root version ${to}`;
  }
  return undefined;
}

function rootOf(bytes: Buffer): Metadata<Root> {
  return Metadata.fromJSON(MetadataKind.Root, JSON.parse(bytes.toString('utf8')) as never);
}

function readBounded(path: string, bound: number): Buffer {
  if (statSync(path).size > bound) throw new Error(`${path}: over ${bound} bytes`);
  const bytes = readFileSync(path);
  if (bytes.length > bound) throw new Error(`${path}: over ${bound} bytes`);
  return bytes;
}

/** A fetcher that remembers the `<version>.root.json` files it downloaded (tuf-js verifies them). */
export function recordingRoots(inner: Fetcher): { fetcher: Fetcher; roots: Map<number, Buffer> } {
  const roots = new Map<number, Buffer>();
  const fetcher: Fetcher = {
    downloadFile: (url, maxLength, handler) => inner.downloadFile(url, maxLength, handler),
    async downloadBytes(url, maxLength) {
      const bytes = await inner.downloadBytes(url, maxLength);
      const version = /\/(\d+)\.root\.json$/.exec(url)?.[1];
      if (version !== undefined && roots.size < MAX_ROOT_CHAIN) roots.set(Number(version), bytes);
      return bytes;
    },
  };
  return { fetcher, roots };
}

/**
 * Keeps the roots tuf-js accepted during a run: those it downloaded up to the version now in
 * `metadataDir/root.json` (tuf-js persists each root once verified, and stops at the first it refuses).
 */
export function keepVerifiedRoots(metadataDir: string, downloaded: Map<number, Buffer>, bound: number): void {
  let current: number;
  try {
    current = rootOf(readBounded(join(metadataDir, 'root.json'), bound)).signed.version;
  } catch {
    return;
  }
  const dir = join(metadataDir, ROOTS);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [version, bytes] of downloaded) {
    if (version <= current) writeFileSync(join(dir, `${version}.root.json`), bytes, { mode: 0o600 });
  }
  for (const name of readdirSync(dir)) {
    const version = Number(/^(\d+)\.root\.json$/.exec(name)?.[1] ?? Number.NaN);
    if (!(version <= current)) rmSync(join(dir, name), { force: true });
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
