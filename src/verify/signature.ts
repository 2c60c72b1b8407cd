import { constants, verify } from 'node:crypto';
import type { KeyObject, VerifyKeyObjectInput } from 'node:crypto';
import { algorithmSpec } from './algorithms.js';
import type { TrustedKey } from './public-key.js';

/** Largest signature looked at (RSA-4096 is 512 bytes); longer input is rejected without parsing. */
export const MAX_SIGNATURE_BYTES = 1024;

/** Ed25519 group order L, little-endian: a canonical signature's S is below it. */
const ED25519_ORDER = Uint8Array.from(
  Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex'),
);

/** What node:crypto needs to verify one signature: digest (null for Ed25519) and key options. */
interface VerifyCall {
  readonly hash: string | null;
  readonly key: KeyObject | VerifyKeyObjectInput;
}

/**
 * The node:crypto call for `signature` under `key`, with the algorithm taken from the key's trusted
 * configuration (never from the signature); undefined when the signature is malformed for it (wrong
 * length, non-canonical Ed25519 S, ECDSA that is not strict ASN.1 DER, e.g. raw r‖s or trailing bytes).
 */
function verifyCall(key: TrustedKey, signature: Uint8Array): VerifyCall | undefined {
  if (signature.length === 0 || signature.length > MAX_SIGNATURE_BYTES) return undefined;
  const spec = algorithmSpec(key.algorithm);
  switch (spec.family) {
    case 'ed25519':
      if (signature.length !== 64 || !isCanonicalEd25519(signature)) return undefined;
      return { hash: null, key: key.key };
    case 'ecdsa':
      if (!isStrictDerEcdsa(signature)) return undefined;
      return { hash: spec.hash, key: { key: key.key, dsaEncoding: 'der' } };
    case 'rsa-pkcs1':
      if (signature.length !== spec.bits / 8) return undefined;
      return { hash: spec.hash, key: { key: key.key, padding: constants.RSA_PKCS1_PADDING } };
    case 'rsa-pss':
      if (signature.length !== spec.bits / 8) return undefined;
      // Salt length is detected: Cloud KMS uses the digest length, openssl defaults to the maximum.
      return {
        hash: spec.hash,
        key: {
          key: key.key,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: constants.RSA_PSS_SALTLEN_AUTO,
        },
      };
  }
}

/**
 * Verifies `signature` over the exact `payload` bytes with `key` (node:crypto for every algorithm,
 * Ed25519 included), on the calling thread. Returns true only for a valid signature; false for anything
 * malformed (see verifyCall). Never throws: fail closed. Decisions use verifySignatureAsync.
 */
export function verifySignature(key: TrustedKey, payload: Uint8Array, signature: Uint8Array): boolean {
  const call = verifyCall(key, signature);
  if (call === undefined) return false;
  try {
    return verify(call.hash, payload, call.key, signature);
  } catch {
    return false;
  }
}

/**
 * Verifications running in libuv's threadpool at once. The pool has 4 threads by default and also serves
 * file and DNS work; verification may take at most half of it, so a hostile decision cannot starve audit
 * writes or lookups.
 */
export const MAX_VERIFICATIONS_IN_FLIGHT = 2;
let inFlight = 0;
const waiting: Array<() => void> = [];

/**
 * verifySignature off the event loop: the check runs in libuv's threadpool (node:crypto's callback form),
 * at most MAX_VERIFICATIONS_IN_FLIGHT at a time, so CRI calls never wait on verification CPU. Same
 * contract: resolves true only for a valid signature; never rejects.
 */
export async function verifySignatureAsync(
  key: TrustedKey,
  payload: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  const call = verifyCall(key, signature);
  if (call === undefined) return false;
  // A released slot passes straight to the next waiter, so the bound holds between microtasks too.
  if (inFlight < MAX_VERIFICATIONS_IN_FLIGHT) inFlight += 1;
  else await new Promise<void>((resolve) => waiting.push(resolve));
  try {
    return await new Promise<boolean>((resolve) => {
      try {
        verify(call.hash, payload, call.key, signature, (err, ok) => resolve(err === null && ok));
      } catch {
        resolve(false);
      }
    });
  } finally {
    const next = waiting.shift();
    if (next === undefined) inFlight -= 1;
    else next();
  }
}

/** S (the second half) must be below the group order; otherwise the signature is malleable. */
function isCanonicalEd25519(signature: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = signature[32 + i] ?? 0;
    const l = ED25519_ORDER[i] ?? 0;
    if (s < l) return true;
    if (s > l) return false;
  }
  return false;
}

/** Strict DER `SEQUENCE { INTEGER r, INTEGER s }`: minimal lengths, positive minimal integers, no trailing bytes. */
export function isStrictDerEcdsa(sig: Uint8Array): boolean {
  if (sig.length < 8 || sig[0] !== 0x30) return false;
  let pos = 1;
  let seqLen = sig[pos++] ?? 0;
  if (seqLen === 0x81) {
    seqLen = sig[pos++] ?? 0;
    if (seqLen < 0x80) return false;
  } else if (seqLen > 0x7f) {
    return false;
  }
  if (pos + seqLen !== sig.length) return false;
  for (let n = 0; n < 2; n++) {
    if (sig[pos++] !== 0x02) return false;
    const len = sig[pos++] ?? 0;
    if (len === 0 || len > 0x7f || pos + len > sig.length) return false;
    const first = sig[pos] ?? 0;
    if (first & 0x80) return false;
    if (first === 0 && (len === 1 || ((sig[pos + 1] ?? 0) & 0x80) === 0)) return false;
    pos += len;
  }
  return pos === sig.length;
}
