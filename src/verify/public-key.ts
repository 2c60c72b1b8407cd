import { createHash, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { algorithmSpec, toSignatureAlgorithm } from './algorithms.js';
import type { SignatureAlgorithm } from './algorithms.js';
import { VerifyError } from './errors.js';

/** A trusted public key: its id, the algorithm its configuration declares, and the parsed key. */
export interface TrustedKey {
  readonly id: string;
  readonly algorithm: SignatureAlgorithm;
  readonly key: KeyObject;
  /** Raw 32-byte public key for ED25519 (for exporters; verification uses `key`); undefined otherwise. */
  readonly ed25519: Uint8Array | undefined;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----/g;

/**
 * Parses a PEM `PUBLIC KEY` (SPKI) and checks that it is exactly what `algorithmName` declares (type,
 * RSA modulus size, EC curve). Returns a frozen TrustedKey. Fail closed: throws VerifyError
 * `CG_ERR_KEY_INVALID` (not one SPKI public key, e.g. a private key or two blocks),
 * `CG_ERR_KEY_ALGORITHM_UNSUPPORTED` (unknown algorithm name) or `CG_ERR_KEY_ALGORITHM_MISMATCH`.
 */
export function parseTrustedKey(id: string, pem: string, algorithmName: string): TrustedKey {
  const algorithm = toSignatureAlgorithm(algorithmName);
  if (algorithm === undefined) {
    throw new VerifyError('CG_ERR_KEY_ALGORITHM_UNSUPPORTED', `unknown signature algorithm ${algorithmName}`);
  }
  const labels = [...pem.matchAll(PEM_BLOCK)].map((m) => m[1]);
  if (labels.length !== 1 || labels[0] !== 'PUBLIC KEY') {
    throw new VerifyError('CG_ERR_KEY_INVALID', 'expected exactly one PEM "PUBLIC KEY" block');
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    throw new VerifyError('CG_ERR_KEY_INVALID', 'the PEM block is not a valid SPKI public key');
  }
  checkKeyMatches(key, algorithm);
  const ed25519 = algorithm === 'ED25519' ? toRawEd25519(key) : undefined;
  return Object.freeze({ id, algorithm, key, ed25519 });
}

/**
 * Binary Authorization's default id for a PKIX key: RFC 6920 `ni:///sha-256;` + base64url(sha256(SPKI DER)).
 */
export function defaultKeyId(key: KeyObject): string {
  const der = key.export({ type: 'spki', format: 'der' });
  return `ni:///sha-256;${createHash('sha256').update(der).digest('base64url')}`;
}

function checkKeyMatches(key: KeyObject, algorithm: SignatureAlgorithm): void {
  const spec = algorithmSpec(algorithm);
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  const mismatch = (what: string): never => {
    throw new VerifyError('CG_ERR_KEY_ALGORITHM_MISMATCH', `${algorithm} needs ${what}`);
  };
  switch (spec.family) {
    case 'rsa-pss':
    case 'rsa-pkcs1':
      if (type !== 'rsa' && !(type === 'rsa-pss' && spec.family === 'rsa-pss')) mismatch('an RSA key');
      if (details.modulusLength !== spec.bits) mismatch(`a ${spec.bits}-bit modulus`);
      return;
    case 'ecdsa':
      if (type !== 'ec' || details.namedCurve !== spec.curve) mismatch(`an EC key on ${spec.curve}`);
      return;
    case 'ed25519':
      if (type !== 'ed25519') mismatch('an Ed25519 key');
      return;
  }
}

function toRawEd25519(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  const raw = Buffer.from(jwk.x ?? '', 'base64url');
  if (raw.length !== 32) throw new VerifyError('CG_ERR_KEY_INVALID', 'Ed25519 key is not 32 bytes');
  return new Uint8Array(raw);
}
