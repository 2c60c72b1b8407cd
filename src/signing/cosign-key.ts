import { createPrivateKey, scryptSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import nacl from 'tweetnacl';
import { z } from 'zod';
import { SigningError } from './errors.js';

/** PEM labels of cosign's encrypted private keys (current and older). */
export const COSIGN_KEY_LABELS = ['ENCRYPTED SIGSTORE PRIVATE KEY', 'ENCRYPTED COSIGN PRIVATE KEY'] as const;

const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
const envelopeSchema = z.object({
  kdf: z.object({
    name: z.literal('scrypt'),
    params: z.object({ N: z.number().int(), r: z.number().int(), p: z.number().int() }),
    salt: b64,
  }),
  cipher: z.object({ name: z.literal('nacl/secretbox'), nonce: b64 }),
  ciphertext: b64,
});

/** Bounds on the scrypt parameters a key file may ask for (cosign uses N=32768, r=8, p=1). */
const MAX_N = 1 << 20;
const MAX_R = 16;
const MAX_P = 4;

/**
 * Decrypts the base64 body of a cosign `ENCRYPTED SIGSTORE PRIVATE KEY` (JSON envelope: scrypt KDF,
 * nacl/secretbox cipher, PKCS#8 plaintext). Returns the private key. Throws SigningError
 * `CG_ERR_SIGNING_KEY_INVALID` (malformed envelope, KDF parameters out of bounds) or
 * `CG_ERR_SIGNING_KEY_PASSPHRASE` (the box does not open: wrong passphrase or corrupted file).
 */
export function decryptCosignKey(pemBody: string, passphrase: string): KeyObject {
  let envelope: z.infer<typeof envelopeSchema>;
  try {
    envelope = envelopeSchema.parse(JSON.parse(Buffer.from(pemBody, 'base64').toString('utf8')));
  } catch {
    throw new SigningError('CG_ERR_SIGNING_KEY_INVALID', 'not a cosign encrypted key envelope');
  }
  const { N, r, p } = envelope.kdf.params;
  if (N < 2 || N > MAX_N || (N & (N - 1)) !== 0 || r < 1 || r > MAX_R || p < 1 || p > MAX_P) {
    throw new SigningError('CG_ERR_SIGNING_KEY_INVALID', 'scrypt parameters out of bounds');
  }
  const nonce = Buffer.from(envelope.cipher.nonce, 'base64');
  if (nonce.length !== nacl.secretbox.nonceLength) {
    throw new SigningError('CG_ERR_SIGNING_KEY_INVALID', 'secretbox nonce must be 24 bytes');
  }
  const key = scryptSync(passphrase, Buffer.from(envelope.kdf.salt, 'base64'), nacl.secretbox.keyLength, {
    N,
    r,
    p,
    maxmem: 256 * N * r * p,
  });
  const plain = nacl.secretbox.open(
    new Uint8Array(Buffer.from(envelope.ciphertext, 'base64')),
    new Uint8Array(nonce),
    new Uint8Array(key),
  );
  if (plain === null)
    throw new SigningError('CG_ERR_SIGNING_KEY_PASSPHRASE', 'wrong passphrase or corrupted key');
  try {
    return createPrivateKey({ key: Buffer.from(plain), format: 'der', type: 'pkcs8' });
  } catch {
    throw new SigningError('CG_ERR_SIGNING_KEY_INVALID', 'decrypted key is not PKCS#8');
  }
}
