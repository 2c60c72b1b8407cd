import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, constants, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { preparePrivateDirectory, privateDirectoryProblem } from '../files/private-directory.js';
import { FileReadError, readRegularFileSync } from '../files/read-regular-file.js';
import type { CachedVerdict } from './verdict-cache.js';

const FILE = 'verdicts.json';
const KEY_FILE = 'verdicts.key';
const FORMAT = 'criguard-verdicts/v3';
const KEY_BYTES = 32;
const MAX_FILE_BYTES = 64 * 1024 * 1024;
/** Distinct verdicts in one file: entries refer to them by index (verdicts repeat across images). */
const MAX_DISTINCT_VERDICTS = 1_000_000;

/** What load() found: the entries to restore, or none and why (undefined problem: nothing persisted yet). */
export interface LoadedVerdicts {
  readonly entries: CachedVerdict[];
  readonly problem: string | undefined;
}

/** Options of createVerdictStore. */
export interface VerdictStoreOptions {
  /** Owner the state directory and its files must have; default the process's effective uid. */
  readonly uid?: number;
}

const verdictSchema = z.looseObject({
  decision: z.enum(['allow', 'deny']),
  wouldBe: z.enum(['allow', 'deny']),
  reason: z.string().max(64),
  dryRun: z.boolean(),
  policyRevision: z.string().max(128),
});
const fileSchema = z.strictObject({
  format: z.literal(FORMAT),
  mac: z.string().regex(/^[0-9a-f]{64}$/),
  body: z.strictObject({
    verdicts: z.array(verdictSchema).max(MAX_DISTINCT_VERDICTS),
    // [key, expiresAt, index into verdicts], checked by hand: a schema per entry is most of the load time
    // at 100,000 entries.
    entries: z.array(z.unknown()),
  }),
});

/** The persisted form: each distinct verdict once, entries as `[key, expiresAt, verdict index]`. */
interface Body {
  readonly verdicts: unknown[];
  readonly entries: Array<[string, number, number]>;
}

/**
 * Persists verdict cache entries in `stateDir` so a restart (during a registry outage, say) keeps what was
 * verified. Only state this daemon wrote is trusted (ADR 0052):
 * - the directory must be private (privateDirectoryProblem: a real directory owned by us, not group- or
 *   world-writable, its ancestors safe); both files are opened without following symlinks or blocking and
 *   must be regular, singly linked, ours, and not writable by others (the key not readable either);
 * - the body (each distinct verdict once, entries as `[key, expiresAt, verdict index]`: ADR 0009) carries
 *   an HMAC-SHA256 under `verdicts.key`, 32 random bytes created 0600 (`O_EXCL`) on the first save, so a
 *   file restored from elsewhere, copied from another node or edited does not verify.
 * `load` returns no entries, with a problem, for anything unsafe, missing, malformed or not verifying (fail
 * closed: the verdicts are simply recomputed). `save` refuses an unsafe directory (throws) and writes
 * atomically (0600 temp file, fsync, rename).
 */
export function createVerdictStore(stateDir: string, options: VerdictStoreOptions = {}) {
  const uid = options.uid ?? process.geteuid?.() ?? 0;
  const path = join(stateDir, FILE);
  const keyPath = join(stateDir, KEY_FILE);
  const read = (file: string, forbiddenModeBits: number, maxBytes: number) =>
    readRegularFileSync(file, { maxBytes, noFollow: true, private: { uid, forbiddenModeBits } }).bytes;

  function readKey(): Buffer {
    const key = read(keyPath, 0o077, KEY_BYTES);
    if (key.length !== KEY_BYTES) throw new Error(`${keyPath} does not hold a ${KEY_BYTES}-byte key`);
    return key;
  }

  function keyForSaving(): Buffer {
    try {
      return readKey();
    } catch (err) {
      if (!(err instanceof FileReadError && err.code === 'CG_ERR_FILE_NOT_FOUND')) throw err;
    }
    const key = randomBytes(KEY_BYTES);
    writeExclusive(keyPath, key);
    return key;
  }

  return {
    path,
    load(): LoadedVerdicts {
      const dirProblem = privateDirectoryProblem(stateDir, uid);
      if (dirProblem !== undefined) {
        // A missing state directory holds nothing to distrust.
        if (dirProblem.startsWith(`cannot check ${stateDir}: ENOENT`))
          return { entries: [], problem: undefined };
        return { entries: [], problem: `state directory unsafe: ${dirProblem}` };
      }
      let text: string;
      try {
        text = read(path, 0o022, MAX_FILE_BYTES).toString('utf8');
      } catch (err) {
        if (err instanceof FileReadError && err.code === 'CG_ERR_FILE_NOT_FOUND')
          return { entries: [], problem: undefined };
        return { entries: [], problem: (err as Error).message };
      }
      let key: Buffer;
      try {
        key = readKey();
      } catch (err) {
        return { entries: [], problem: `no usable key: ${(err as Error).message}` };
      }
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        return { entries: [], problem: 'not valid JSON' };
      }
      const parsed = fileSchema.safeParse(raw);
      if (!parsed.success) return { entries: [], problem: 'unknown format' };
      // The MAC covers the body exactly as stored (JSON.parse keeps its order and values).
      const body = (raw as { body: Body }).body;
      if (!timingSafeEqual(Buffer.from(parsed.data.mac, 'hex'), mac(key, body)))
        return { entries: [], problem: 'MAC mismatch: not written by this node' };
      const entries = fromBody(body);
      if (entries === undefined) return { entries: [], problem: 'unknown format' };
      return { entries, problem: undefined };
    },
    save(entries: readonly CachedVerdict[]): void {
      const text = serialise(entries);
      const temp = tempPath();
      try {
        writeExclusive(temp, Buffer.from(text));
        renameSync(temp, path);
      } catch (err) {
        rmSync(temp, { force: true });
        throw err;
      }
    },
    /**
     * save() with the file written, flushed and renamed off the event loop (the entries are serialised
     * at once, so later changes are not included). For the periodic save, where fsync can take long.
     */
    async saveInBackground(entries: readonly CachedVerdict[]): Promise<void> {
      const text = serialise(entries);
      const temp = tempPath();
      try {
        const file = await open(
          temp,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          0o600,
        );
        try {
          await file.writeFile(text);
          await file.sync();
        } finally {
          await file.close();
        }
        await rename(temp, path);
      } catch (err) {
        await rm(temp, { force: true });
        throw err;
      }
    },
  };

  /** The file's text for `entries`; throws for an unsafe directory (nothing is written then). */
  function serialise(entries: readonly CachedVerdict[]): string {
    const dirProblem = preparePrivateDirectory(stateDir, uid);
    if (dirProblem !== undefined) throw new Error(`state directory unsafe, not written: ${dirProblem}`);
    const key = keyForSaving();
    const bodyText = JSON.stringify(toBody(entries));
    const macHex = createHmac('sha256', key).update(bodyText).digest('hex');
    // The same text as JSON.stringify({ format, mac, body }), without serialising the body twice.
    return `{"format":${JSON.stringify(FORMAT)},"mac":"${macHex}","body":${bodyText}}`;
  }

  function tempPath(): string {
    return `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  }
}

function mac(key: Buffer, body: Body): Buffer {
  return createHmac('sha256', key).update(JSON.stringify(body)).digest();
}

/** Entries with each distinct verdict stored once (by identity first, then by content). */
function toBody(entries: readonly CachedVerdict[]): Body {
  const verdicts: unknown[] = [];
  const byObject = new Map<object, number>();
  const byText = new Map<string, number>();
  const rows = entries.map((e): [string, number, number] => {
    let index = byObject.get(e.verdict);
    if (index === undefined) {
      const text = JSON.stringify(e.verdict);
      index = byText.get(text);
      if (index === undefined) {
        index = verdicts.push(e.verdict) - 1;
        byText.set(text, index);
      }
      byObject.set(e.verdict, index);
    }
    return [e.key, e.expiresAt, index];
  });
  return { verdicts, entries: rows };
}

/** The entries of a verified body (entries sharing a verdict share the object); undefined if malformed. */
function fromBody(body: Body): CachedVerdict[] | undefined {
  const verdicts = body.verdicts as CachedVerdict['verdict'][];
  const entries: CachedVerdict[] = [];
  for (const row of body.entries as unknown[]) {
    if (!Array.isArray(row) || row.length !== 3) return undefined;
    const [key, expiresAt, index] = row as unknown[];
    if (typeof key !== 'string' || key.length > 4096) return undefined;
    if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) return undefined;
    if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= verdicts.length)
      return undefined;
    entries.push({ key, expiresAt, verdict: verdicts[index as number]! });
  }
  return entries;
}

/** Creates `file` (never an existing file, never through a symlink), 0600, writes and fsyncs `bytes`. */
function writeExclusive(file: string, bytes: Buffer): void {
  const fd = openSync(
    file,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
