import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDigest } from '../reference/digest.js';
import { AttestationError } from './errors.js';
import { digestDirectoryName } from './local-directory-source.js';

/**
 * Manifests kept beside the attestation directory for nodes that never reach a registry
 * (`<attestationsDir>/manifests/sha256-<hex>`, the exact bytes, written by `criguard attestations import`):
 * a multi-arch index and its platform manifests, so the platform a node runs can be found offline. The
 * store is content-addressed: bytes whose hash is not their name are never returned.
 */

/** Largest manifest kept or read (the registry client's default manifest limit). */
export const MAX_STORED_MANIFEST_BYTES = 4 * 1024 * 1024;

/** Reads manifests by digest. */
export interface ManifestStore {
  /** The manifest's bytes, hash-checked; undefined when absent, unreadable or not matching its digest. */
  get(digest: string): Promise<Uint8Array | undefined>;
}

/** The folder of the manifests inside an attestation directory. */
export function manifestsDirectory(attestationsDir: string): string {
  return join(attestationsDir, 'manifests');
}

/** True when `bytes` hash to `digest` (sha256 or sha512). Throws for a malformed digest. */
export function matchesDigest(bytes: Uint8Array, digest: string): boolean {
  const d = parseDigest(digest);
  return createHash(d.algorithm).update(bytes).digest('hex') === d.hex;
}

/** The store of `<attestationsDir>/manifests/`. Regular files only (no symlink followed), bounded. */
export function createManifestStore(attestationsDir: string): ManifestStore {
  const dir = manifestsDirectory(attestationsDir);
  return {
    async get(digest) {
      let path: string;
      try {
        path = join(dir, digestDirectoryName(digest));
      } catch {
        return undefined;
      }
      let handle;
      try {
        handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      } catch {
        return undefined;
      }
      try {
        const info = await handle.stat();
        if (!info.isFile() || info.size > MAX_STORED_MANIFEST_BYTES) return undefined;
        const buf = Buffer.alloc(MAX_STORED_MANIFEST_BYTES + 1);
        const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
        if (bytesRead > MAX_STORED_MANIFEST_BYTES) return undefined;
        const bytes = buf.subarray(0, bytesRead);
        return matchesDigest(bytes, digest) ? new Uint8Array(bytes) : undefined;
      } catch {
        return undefined;
      } finally {
        await handle.close();
      }
    },
  };
}

/**
 * Writes one manifest into the store (atomic rename, mode 0644). Throws AttestationError
 * `CG_ERR_ATTESTATION_FILE_INVALID` when the bytes do not hash to `digest` (nothing is written).
 */
export async function writeStoredManifest(
  attestationsDir: string,
  digest: string,
  bytes: Uint8Array,
): Promise<string> {
  if (bytes.length > MAX_STORED_MANIFEST_BYTES || !matchesDigest(bytes, digest)) {
    throw new AttestationError('CG_ERR_ATTESTATION_FILE_INVALID', `manifest ${digest}: bytes do not match`);
  }
  const dir = manifestsDirectory(attestationsDir);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const name = digestDirectoryName(digest);
  const path = join(dir, name);
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  await writeFile(tmp, bytes, { mode: 0o644, flag: 'wx' });
  await rename(tmp, path);
  const info = await lstat(path);
  if (!info.isFile()) throw new AttestationError('CG_ERR_ATTESTATION_IO', `${path} is not a regular file`);
  return path;
}
