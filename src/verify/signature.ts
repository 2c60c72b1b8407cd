import { constants, verify } from 'node:crypto';
import nacl from 'tweetnacl';
import { algorithmSpec } from './algorithms.js';
import type { TrustedKey } from './public-key.js';

/** Largest signature looked at (RSA-4096 is 512 bytes); longer input is rejected without parsing. */
export const MAX_SIGNATURE_BYTES = 1024;

/** Ed25519 group order L, little-endian: a canonical signature's S is below it. */
const ED25519_ORDER = Uint8Array.from(
  Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex'),
);

/**
 * Verifies `signature` over the exact `payload` bytes with `key`, using the algorithm from the key's
 * trusted configuration (never from the signature). Returns true only for a valid signature; false for
 * anything malformed (wrong length, non-canonical Ed25519 S, ECDSA that is not strict ASN.1 DER, e.g.
 * raw r‖s or trailing bytes). Never throws: fail closed.
 */
export function verifySignature(key: TrustedKey, payload: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length === 0 || signature.length > MAX_SIGNATURE_BYTES) return false;
  const spec = algorithmSpec(key.algorithm);
  try {
    switch (spec.family) {
      case 'ed25519':
        if (key.ed25519 === undefined || signature.length !== 64 || !isCanonicalEd25519(signature)) {
          return false;
        }
        return nacl.sign.detached.verify(payload, signature, key.ed25519);
      case 'ecdsa':
        if (!isStrictDerEcdsa(signature)) return false;
        return verify(spec.hash, payload, { key: key.key, dsaEncoding: 'der' }, signature);
      case 'rsa-pkcs1':
        if (signature.length !== spec.bits / 8) return false;
        return verify(spec.hash, payload, { key: key.key, padding: constants.RSA_PKCS1_PADDING }, signature);
      case 'rsa-pss':
        if (signature.length !== spec.bits / 8) return false;
        // Salt length is detected: Cloud KMS uses the digest length, openssl defaults to the maximum.
        return verify(
          spec.hash,
          payload,
          {
            key: key.key,
            padding: constants.RSA_PKCS1_PSS_PADDING,
            saltLength: constants.RSA_PSS_SALTLEN_AUTO,
          },
          signature,
        );
    }
  } catch {
    return false;
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
