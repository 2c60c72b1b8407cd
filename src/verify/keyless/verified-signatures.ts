import { createHash, createPublicKey, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/**
 * A bounded memo (least recently used out) of signature checks that SUCCEEDED (ADR 0022): the certificate-to-issuer checks of keyless
 * verification, whose bytes repeat (every bundle of one CA carries the same intermediate, a bundle is
 * checked again by a re-validation sweep or another policy). An entry is the SHA-256 of the length-prefixed
 * (algorithm, SPKI DER of the key, signed bytes, signature): a hit means exactly these bytes verified
 * under exactly this key before. Failures are never stored, so a failure is recomputed every time and
 * never answers for a later check. Only the cryptographic predicate is memoised: whatever depends on time
 * (validity windows, transparency-log times) or on the chain is checked by the caller every time.
 */

/** Most successful checks remembered (least recently used first out). */
export const VERIFIED_SIGNATURES_LIMIT = 1024;
/** Most imported keys kept (issuers are the trusted roots' certificates: a handful). */
export const IMPORTED_KEYS_LIMIT = 64;

const verified = new LRUCache<string, true>({ max: VERIFIED_SIGNATURES_LIMIT });
const importedKeys = new LRUCache<string, KeyObject>({ max: IMPORTED_KEYS_LIMIT });

/**
 * Whether `signature` over `data` verifies under the public key `spki` (SubjectPublicKeyInfo DER) with
 * `algorithm` (a node:crypto digest name; undefined: the key's default), as `crypto.verify` answers, from
 * the memo when these exact bytes verified before. A key that does not import, or any other error, is
 * false. The key object is imported from `spki` here, so the key verified with is the key memoised.
 */
export function verifySignatureOnce(
  algorithm: string | undefined,
  spki: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  const id = entryId(algorithm ?? '', spki, data, signature);
  if (verified.get(id) === true) return true;
  let ok: boolean;
  try {
    ok = verify(algorithm, data, importedKey(spki), signature);
  } catch {
    ok = false;
  }
  if (ok) verified.set(id, true);
  return ok;
}

/** How many successful checks are remembered (never above VERIFIED_SIGNATURES_LIMIT). */
export function verifiedSignatureCount(): number {
  return verified.size;
}

/** Forgets every remembered check (benchmarks measure a check never made; tests start clean). */
export function forgetVerifiedSignatures(): void {
  verified.clear();
}

/** Forgets the imported keys too (benchmarks measure a cold start). */
export function forgetImportedKeys(): void {
  importedKeys.clear();
}

function importedKey(spki: Uint8Array): KeyObject {
  const id = Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength).toString('base64');
  let key = importedKeys.get(id);
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    importedKeys.set(id, key);
  }
  return key;
}

function entryId(algorithm: string, ...parts: Uint8Array[]): string {
  const hash = createHash('sha256');
  const name = Buffer.from(algorithm, 'utf8');
  for (const part of [name, ...parts]) {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(part.byteLength);
    hash.update(length).update(part);
  }
  return hash.digest('base64');
}
