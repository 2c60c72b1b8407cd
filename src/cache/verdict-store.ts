import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, constants, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { preparePrivateDirectory, privateDirectoryProblem } from '../files/private-directory.js';
import { FileReadError, readRegularFileSync } from '../files/read-regular-file.js';
import type { CachedVerdict } from './verdict-cache.js';

const FILE = 'verdicts.json';
const KEY_FILE = 'verdicts.key';
const FORMAT = 'criguard-verdicts/v2';
const KEY_BYTES = 32;
const MAX_FILE_BYTES = 64 * 1024 * 1024;

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
  entries: z.array(
    z.strictObject({ key: z.string().max(4096), verdict: verdictSchema, expiresAt: z.number().finite() }),
  ),
});

/**
 * Persists verdict cache entries in `stateDir` so a restart (during a registry outage, say) keeps what was
 * verified. Only state this daemon wrote is trusted (ADR 0052):
 * - the directory must be private (privateDirectoryProblem: a real directory owned by us, not group- or
 *   world-writable, its ancestors safe); both files are opened without following symlinks or blocking and
 *   must be regular, singly linked, ours, and not writable by others (the key not readable either);
 * - entries carry an HMAC-SHA256 under `verdicts.key`, 32 random bytes created 0600 (`O_EXCL`) on the
 *   first save, so a file restored from elsewhere, copied from another node or edited does not verify.
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
      // The MAC covers the entries exactly as stored (JSON.parse keeps their order and values).
      const entries = (raw as { entries: CachedVerdict[] }).entries;
      if (!timingSafeEqual(Buffer.from(parsed.data.mac, 'hex'), mac(key, entries)))
        return { entries: [], problem: 'MAC mismatch: not written by this node' };
      return { entries, problem: undefined };
    },
    save(entries: readonly CachedVerdict[]): void {
      const dirProblem = preparePrivateDirectory(stateDir, uid);
      if (dirProblem !== undefined) throw new Error(`state directory unsafe, not written: ${dirProblem}`);
      const key = keyForSaving();
      const file = { format: FORMAT, mac: mac(key, entries).toString('hex'), entries: [...entries] };
      const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        writeExclusive(temp, Buffer.from(JSON.stringify(file)));
        renameSync(temp, path);
      } catch (err) {
        rmSync(temp, { force: true });
        throw err;
      }
    },
  };
}

function mac(key: Buffer, entries: readonly unknown[]): Buffer {
  return createHmac('sha256', key).update(JSON.stringify(entries)).digest();
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
