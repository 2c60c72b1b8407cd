import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDigest } from '../reference/digest.js';
import type { ImageIdentity } from '../reference/image-reference.js';
import type { AttestationRecord } from '../verify/attestation.js';
import type { AttestationSource } from './attestation-source.js';
import {
  MAX_ATTESTATION_FILE_BYTES,
  parseAttestationDocument,
  toAttestationFile,
} from './attestation-file.js';
import type { ParsedAttestation } from './attestation-file.js';
import { AttestationError } from './errors.js';

/** Limits of the local directory source. */
export interface LocalDirectoryLimits {
  /** Files considered per digest directory (default 64); more → CG_ERR_ATTESTATION_LIMIT. */
  readonly maxFiles: number;
  /** Largest file read (default 256 KiB); larger files are skipped as invalid. */
  readonly maxFileBytes: number;
  /** Records returned per digest (default 64); more → CG_ERR_ATTESTATION_LIMIT. */
  readonly maxRecords: number;
  /** gcloud exports (`<dir>/*.json`) considered (default 16); more → CG_ERR_ATTESTATION_LIMIT. */
  readonly maxExports: number;
  /** Largest gcloud export read (default 8 MiB); larger ones are skipped. */
  readonly maxExportBytes: number;
}

/** Options of createLocalDirectorySource. */
export interface LocalDirectorySourceOptions {
  readonly dir: string;
  readonly limits?: Partial<LocalDirectoryLimits>;
  /** Told about every file that was skipped (invalid, too large, not a regular file). */
  readonly onSkipped?: (path: string, code: string) => void;
}

/** Directory name for a digest: `sha256:<hex>` → `sha256-<hex>` (the cosign tag convention). */
export function digestDirectoryName(digest: string): string {
  const d = parseDigest(digest);
  return `${d.algorithm}-${d.hex}`;
}

/**
 * The offline attestation source (format in docs/attestations.md): `<dir>/sha256-<hex>/*.json`, each an
 * attestation, an occurrence or a gcloud export (JSON array of occurrences; those whose `resourceUri`
 * names another digest are ignored), then `<dir>/*.json` gcloud exports, from which the occurrences whose
 * `resourceUri` names the digest are taken. Attestations are keyed by digest only; the image name and
 * credentials are not used. A missing directory yields []. Invalid files are skipped (reported through onSkipped): they can
 * only fail to satisfy an attestor. Rejects with AttestationError `CG_ERR_ATTESTATION_LIMIT` (too many
 * files or records) or `CG_ERR_ATTESTATION_IO` (unreadable directory): the caller must treat that as
 * undecided.
 */
export function createLocalDirectorySource(options: LocalDirectorySourceOptions): AttestationSource {
  const maxFiles = options.limits?.maxFiles ?? 64;
  const maxFileBytes = Math.min(
    options.limits?.maxFileBytes ?? MAX_ATTESTATION_FILE_BYTES,
    MAX_ATTESTATION_FILE_BYTES,
  );
  const maxRecords = options.limits?.maxRecords ?? 64;
  const maxExports = options.limits?.maxExports ?? 16;
  const maxExportBytes = options.limits?.maxExportBytes ?? 8 * 1024 * 1024;
  const skipped = options.onSkipped ?? (() => undefined);

  /** Reads `folder`'s `*.json` files; keeps the attestations `keep` accepts. */
  async function readFolder(
    folder: string,
    maxCount: number,
    maxBytes: number,
    keep: (a: ParsedAttestation) => boolean,
    records: AttestationRecord[],
  ): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(folder)).filter((n) => n.endsWith('.json')).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new AttestationError('CG_ERR_ATTESTATION_IO', `cannot read ${folder}`, { cause: err });
    }
    if (names.length > maxCount) {
      throw new AttestationError(
        'CG_ERR_ATTESTATION_LIMIT',
        `${names.length} files in ${folder} (limit ${maxCount})`,
      );
    }
    for (const name of names) {
      const path = join(folder, name);
      const text = await readBounded(path, maxBytes);
      if (typeof text !== 'string') {
        skipped(path, text.code);
        continue;
      }
      let parsed: ParsedAttestation[];
      try {
        parsed = parseAttestationDocument(text, path);
      } catch (err) {
        skipped(path, err instanceof AttestationError ? err.code : 'CG_ERR_ATTESTATION_FILE_INVALID');
        continue;
      }
      for (const a of parsed) if (keep(a)) records.push(a.record);
      if (records.length > maxRecords) {
        throw new AttestationError(
          'CG_ERR_ATTESTATION_LIMIT',
          `over ${maxRecords} attestations for one digest`,
        );
      }
    }
  }

  return {
    async fetch({ digest }: ImageIdentity): Promise<AttestationRecord[]> {
      const records: AttestationRecord[] = [];
      const folder = join(options.dir, digestDirectoryName(digest));
      await readFolder(
        folder,
        maxFiles,
        maxFileBytes,
        (a) => a.digest === undefined || a.digest === digest,
        records,
      );
      await readFolder(options.dir, maxExports, maxExportBytes, (a) => a.digest === digest, records);
      return records;
    },
  };
}

/** Reads a regular file (no symlink followed) of at most `max` bytes through one descriptor. */
async function readBounded(path: string, max: number): Promise<string | { code: string }> {
  let handle;
  try {
    // O_NONBLOCK: a FIFO opens at once and is skipped below instead of blocking a thread forever.
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return { code: 'CG_ERR_ATTESTATION_IO' };
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) return { code: 'CG_ERR_ATTESTATION_FILE_INVALID' };
    if (info.size > max) return { code: 'CG_ERR_ATTESTATION_LIMIT' };
    const buf = Buffer.alloc(max + 1);
    const { bytesRead } = await handle.read(buf, 0, max + 1, 0);
    if (bytesRead > max) return { code: 'CG_ERR_ATTESTATION_LIMIT' };
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

/**
 * Writes one attestation into `<dir>/sha256-<hex>/<content hash>.json` (atomic rename, mode 0644).
 * Returns the path. Writing the same attestation twice writes the same file.
 */
export async function writeAttestationFile(
  dir: string,
  digest: string,
  record: Parameters<typeof toAttestationFile>[0],
): Promise<string> {
  const folder = join(dir, digestDirectoryName(digest));
  await mkdir(folder, { recursive: true, mode: 0o755 });
  const text = toAttestationFile(record);
  const name = `${createHash('sha256').update(text).digest('hex').slice(0, 32)}.json`;
  const path = join(folder, name);
  const tmp = join(folder, `.${name}.${process.pid}.tmp`);
  await writeFile(tmp, text, { mode: 0o644, flag: 'wx' });
  await rename(tmp, path);
  const info = await lstat(path);
  if (!info.isFile()) throw new AttestationError('CG_ERR_ATTESTATION_IO', `${path} is not a regular file`);
  return path;
}
