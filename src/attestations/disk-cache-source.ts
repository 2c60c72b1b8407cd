import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, mkdir, open, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { parseDigest } from '../reference/digest.js';
import type { AttestationRecord } from '../verify/attestation.js';
import type { AttestationSource } from './attestation-source.js';

/** Whether an empty answer for (image, digest) is definitive; see DiskCacheSourceOptions. */
export type EmptyIsAuthoritative = (
  imageName: string,
  digest: string,
  signal?: AbortSignal,
) => Promise<boolean>;

/** What the cache reports. */
export type DiskCacheEvent = 'served-stale' | 'write-failed' | 'corrupt-discarded' | 'withdrawn';

/** Options of createDiskCacheSource. */
export interface DiskCacheSourceOptions {
  /** The source asked first (typically the registry source). */
  readonly source: AttestationSource;
  /** Cache directory under the state dir; created 0700. */
  readonly dir: string;
  /** Clock in ms (default Date.now). */
  readonly now?: () => number;
  /** Entries older than this are not served (default 30 days). */
  readonly maxAgeMs?: number;
  /** Largest entry written or read (default 1 MiB); larger results are not cached. */
  readonly maxEntryBytes?: number;
  /** Entries kept (default 4096); the oldest are removed past it. */
  readonly maxEntries?: number;
  /** Lists the directory when pruning (default `readdir`; tests count the listings). */
  readonly listDir?: (dir: string) => Promise<string[]>;
  /** Codes of errors that make the cache answer (default: only `CG_ERR_REGISTRY_UNAVAILABLE`). */
  readonly fallbackCodes?: readonly string[];
  /**
   * Whether an empty answer is the registry's word (default true: it removes the entry). False for
   * anonymous look-ups: a registry may answer 404 to anonymous requests for a private repository, which
   * must neither erase what an authorised fetch stored nor hide it (the cached entry is served instead).
   * A function decides case by case, asked only when an entry exists: true when the registry is known to
   * answer for the image (it serves the image's manifest to this same requester), so that its "no
   * signature" is definitive; false, or a rejection, keeps serving the entry.
   */
  readonly emptyIsAuthoritative?: boolean | EmptyIsAuthoritative;
  /**
   * Told about cache events: `served-stale`, `write-failed`, `corrupt-discarded`, `withdrawn` (a cached
   * entry dropped because the registry definitively has no signature any more). Never given records.
   */
  readonly onEvent?: (event: DiskCacheEvent, digest: string) => void;
  /**
   * Never change the directory: nothing is written, withdrawn or discarded (a corrupt entry is only
   * ignored), and it is not created. For tools that read the daemon's cache (`policy simulate`).
   */
  readonly readOnly?: boolean;
  /**
   * For fetches that carry no credentials (the kubelet sent none; the source may use the node's own):
   * replaces `fallbackCodes` and `emptyIsAuthoritative` where given.
   */
  readonly withoutCredentials?: {
    readonly fallbackCodes?: readonly string[];
    readonly emptyIsAuthoritative?: boolean | EmptyIsAuthoritative;
  };
}

const b64 = z
  .string()
  .max(4 * 1024 * 1024)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/);
const entrySchema = z.strictObject({
  version: z.literal(1),
  name: z.string().max(512),
  digest: z.string(),
  storedAt: z.number().finite(),
  records: z
    .array(
      z.strictObject({
        payload: b64,
        signatures: z
          .array(z.strictObject({ publicKeyId: z.string().max(1024).optional(), signature: b64 }))
          .max(64),
        source: z.string().max(1024).optional(),
      }),
    )
    .max(1024),
});

/**
 * Writes and removals of cache entries, by path, in the order they were asked, across every cache of
 * the process (the daemon and a `policy simulate` reader may share a directory): a fetch does not wait for its write (it is off the
 * pull's path), but a later read, write or removal of the same entry waits for it.
 */
const pending = new Map<string, Promise<void>>();

/** How long the directory, once made 0700, is taken to be there (ms); see ensureDir. */
export const ENSURE_DIR_EVERY_MS = 1_000;

/** Writes after which the directory is listed again even when the count says no pruning is due. */
export const PRUNE_LISTING_EVERY = 256;

function inOrder(path: string, op: () => Promise<void>): Promise<void> {
  const run = (pending.get(path) ?? Promise.resolve()).then(op);
  const settled = run.catch(() => undefined);
  pending.set(path, settled);
  void settled.then(() => {
    if (pending.get(path) === settled) pending.delete(path);
  });
  return run;
}

function settledAt(path: string): Promise<void> {
  return pending.get(path) ?? Promise.resolve();
}

/** Resolves once every cache write asked so far is done (for tests and a clean stop). */
export async function diskCacheWritesSettled(): Promise<void> {
  while (pending.size > 0) await Promise.all(pending.values());
}

/**
 * Wraps a source with an on-disk cache of its last answer per (image name, digest); the fetch's
 * credentials are passed on to the source as they are, and its `overlap` flag is kept. A successful fetch
 * replaces the entry (an empty answer removes it when it is authoritative, see emptyIsAuthoritative) and is
 * returned as is. When the source rejects with
 * `CG_ERR_REGISTRY_UNAVAILABLE` (or another of `fallbackCodes`) a cached entry younger than `maxAgeMs` is
 * served instead: signatures are self-authenticating and re-verified by the caller each time, so a stale
 * entry can only deny or re-admit what was once validly signed. Without a usable entry the original
 * error is rethrown (fail closed). Files are 0600 in a 0700 directory, written to a temp file then
 * renamed; unreadable or corrupt entries are deleted and treated as absent. Cache write failures never
 * fail a fetch.
 */
export function createDiskCacheSource(options: DiskCacheSourceOptions): AttestationSource {
  const now = options.now ?? Date.now;
  const maxAgeMs = options.maxAgeMs ?? 30 * 24 * 3600 * 1000;
  const maxEntryBytes = options.maxEntryBytes ?? 1024 * 1024;
  const maxEntries = options.maxEntries ?? 4096;
  const listDir = options.listDir ?? ((dir: string) => readdir(dir));
  const fallback = new Set(options.fallbackCodes ?? ['CG_ERR_REGISTRY_UNAVAILABLE']);
  const anonymousFallback = new Set(
    options.withoutCredentials?.fallbackCodes ?? options.fallbackCodes ?? ['CG_ERR_REGISTRY_UNAVAILABLE'],
  );
  const event = options.onEvent ?? (() => undefined);

  // Made (and its mode set) again at the first write after ENSURE_DIR_EVERY_MS, not once per cache: a cache
  // lives as long as the daemon, and a directory loosened meanwhile is 0700 again at that write; one removed
  // is made again at once (the write that finds it missing makes it and retries). Not at every write: a
  // storm of new digests writes hundreds of entries a second, and the two calls cost 6% of the event loop.
  let dirMadeAt: number | undefined;
  let making: Promise<void> | undefined;
  const ensureDir = (force: boolean): Promise<void> => {
    const t = now();
    if (!force && dirMadeAt !== undefined && t >= dirMadeAt && t - dirMadeAt < ENSURE_DIR_EVERY_MS)
      return Promise.resolve();
    making ??= (async () => {
      try {
        await mkdir(options.dir, { recursive: true, mode: 0o700 });
        await chmod(options.dir, 0o700);
        dirMadeAt = now();
      } finally {
        making = undefined;
      }
    })();
    return making;
  };

  const fileOf = (name: string, digest: string): string => {
    const d = parseDigest(digest);
    const n = createHash('sha256').update(name).digest('hex').slice(0, 16);
    return join(options.dir, `${d.algorithm}-${d.hex}-${n}.json`);
  };

  async function write(name: string, digest: string, records: AttestationRecord[]): Promise<void> {
    if (options.readOnly === true) return;
    const path = fileOf(name, digest);
    if (records.length === 0) {
      await rm(path, { force: true });
      return;
    }
    const text = JSON.stringify({
      version: 1,
      name,
      digest,
      storedAt: now(),
      records: records.map((r) => ({
        payload: Buffer.from(r.payload).toString('base64'),
        signatures: r.signatures.map((s) => ({
          ...(s.publicKeyId === undefined ? {} : { publicKeyId: s.publicKeyId }),
          signature: Buffer.from(s.signature).toString('base64'),
        })),
        ...(r.source === undefined ? {} : { source: r.source }),
      })),
    });
    if (Buffer.byteLength(text) > maxEntryBytes) return;
    await ensureDir(false);
    const tmp = `${path}.${process.pid}.${createHash('sha256').update(String(Math.random())).digest('hex').slice(0, 8)}.tmp`;
    try {
      try {
        await writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        await ensureDir(true); // removed since it was last made
        await writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
      }
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    await prune();
  }

  // The entries found by the last listing, and the writes since: the directory is listed again only when
  // they could add up to more than maxEntries (or every PRUNE_LISTING_EVERY writes, to notice files added
  // by hand), not at every write: a storm of new digests wrote one entry per image and listed the whole
  // directory each time, a cost that grew with the entries (docs/adr/0009).
  let listed: number | undefined;
  let writtenSinceListing = 0;

  async function prune(): Promise<void> {
    writtenSinceListing += 1;
    if (
      listed !== undefined &&
      listed + writtenSinceListing <= maxEntries &&
      writtenSinceListing < PRUNE_LISTING_EVERY
    )
      return;
    writtenSinceListing = 0;
    const names = (await listDir(options.dir)).filter((n) => n.endsWith('.json'));
    listed = Math.min(names.length, maxEntries);
    if (names.length <= maxEntries) return;
    const aged = await Promise.all(
      names.map(async (n) => ({
        n,
        t: (await stat(join(options.dir, n)).catch(() => undefined))?.mtimeMs ?? 0,
      })),
    );
    aged.sort((a, b) => a.t - b.t);
    for (const { n } of aged.slice(0, names.length - maxEntries))
      await rm(join(options.dir, n), { force: true });
  }

  async function read(name: string, digest: string): Promise<AttestationRecord[] | undefined> {
    const path = fileOf(name, digest);
    await settledAt(path);
    let text: string;
    try {
      // O_NONBLOCK: a FIFO planted here opens at once and is refused below instead of blocking a thread.
      const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      try {
        const info = await handle.stat();
        if (!info.isFile() || info.size > maxEntryBytes) throw new Error('not a cache entry');
        const buf = Buffer.alloc(info.size);
        const { bytesRead } = await handle.read(buf, 0, info.size, 0);
        text = buf.subarray(0, bytesRead).toString('utf8');
      } finally {
        await handle.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      await discard(path, digest);
      return undefined;
    }
    let parsed;
    try {
      parsed = entrySchema.safeParse(JSON.parse(text));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success || parsed.data.name !== name || parsed.data.digest !== digest) {
      await discard(path, digest);
      return undefined;
    }
    const age = now() - parsed.data.storedAt;
    if (age > maxAgeMs || age < -maxAgeMs) return undefined;
    return parsed.data.records.map((r) =>
      Object.freeze({
        payload: new Uint8Array(Buffer.from(r.payload, 'base64')),
        signatures: Object.freeze(
          r.signatures.map((s) =>
            Object.freeze({
              publicKeyId: s.publicKeyId,
              signature: new Uint8Array(Buffer.from(s.signature, 'base64')),
            }),
          ),
        ),
        source: r.source === undefined ? 'attestation cache' : `${r.source} (cached)`,
      }),
    );
  }

  async function discard(path: string, digest: string): Promise<void> {
    if (options.readOnly === true) return;
    event('corrupt-discarded', digest);
    await unlink(path).catch(() => undefined);
  }

  return {
    ...(options.source.overlap === true ? { overlap: true } : {}),
    async fetch(image, credentials, signal) {
      const { name: imageName, digest } = image;
      parseDigest(digest);
      const codes = credentials === undefined ? anonymousFallback : fallback;
      let records: AttestationRecord[];
      try {
        records = await options.source.fetch(image, credentials, signal);
      } catch (err) {
        const code = (err as { code?: unknown } | null)?.code;
        // A fetch its caller cancelled is not an outage: nothing is served in its place.
        if (signal?.aborted === true || typeof code !== 'string' || !codes.has(code)) throw err;
        const cached = await read(imageName, digest).catch(() => undefined);
        if (cached === undefined) throw err;
        event('served-stale', digest);
        return cached;
      }
      const authoritative =
        (credentials === undefined ? options.withoutCredentials?.emptyIsAuthoritative : undefined) ??
        options.emptyIsAuthoritative ??
        true;
      if (records.length === 0 && authoritative !== true) {
        const cached = await read(imageName, digest).catch(() => undefined);
        if (cached === undefined) return records;
        const definitive =
          typeof authoritative === 'function' &&
          (await authoritative(imageName, digest, signal).catch(() => false));
        if (!definitive) {
          event('served-stale', digest);
          return cached;
        }
        // Deletion is not revocation, but a registry that serves the image and says "no signature" is
        // believed: the cached copy stops admitting (docs/attestations.md).
        if (options.readOnly === true) return records;
        const path = fileOf(imageName, digest);
        await inOrder(path, () => rm(path, { force: true })).catch(() => event('write-failed', digest));
        event('withdrawn', digest);
        return records;
      }
      // Not awaited: the answer does not depend on the copy (a later read of this entry waits for it).
      void inOrder(fileOf(imageName, digest), () => write(imageName, digest, records)).catch(() =>
        event('write-failed', digest),
      );
      return records;
    },
  };
}
