import { constants, createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { algorithmSpec } from '../../src/verify/algorithms.js';
import type { SignatureAlgorithm } from '../../src/verify/algorithms.js';
import { parseTrustedKey } from '../../src/verify/public-key.js';
import type { TrustedKey } from '../../src/verify/public-key.js';

/** Test key material for one algorithm: both halves and the PEM of the public one. */
export interface TestKey {
  readonly algorithm: SignatureAlgorithm;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly publicPem: string;
}

const rsaCache = new Map<number, { privateKey: KeyObject; publicKey: KeyObject }>();

/** Generates a key pair that fits `algorithm` (RSA: the committed key of that size, shared). */
export function makeKey(algorithm: SignatureAlgorithm): TestKey {
  const spec = algorithmSpec(algorithm);
  let pair: { privateKey: KeyObject; publicKey: KeyObject };
  if (spec.family === 'ed25519') pair = generateKeyPairSync('ed25519');
  else if (spec.family === 'ecdsa') pair = generateKeyPairSync('ec', { namedCurve: spec.curve });
  else {
    pair = rsaCache.get(spec.bits) ?? committedRsaKey(spec.bits);
    rsaCache.set(spec.bits, pair);
  }
  return { algorithm, ...pair, publicPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/**
 * The committed RSA test key of `bits` (test/fixtures/keys): generating 2048–4096-bit keys in every test
 * process cost tens of seconds of the unit lane.
 */
function committedRsaKey(bits: number): { privateKey: KeyObject; publicKey: KeyObject } {
  const pem = readFileSync(new URL(`../fixtures/keys/rsa-${bits}.pem`, import.meta.url));
  const privateKey = createPrivateKey(pem);
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** A TrustedKey for a test key. */
export function trust(key: TestKey, id = 'key-1'): TrustedKey {
  return parseTrustedKey(id, key.publicPem, key.algorithm);
}

/** Signs like the real signers do: DER ECDSA, PKCS#1 v1.5, PSS with a digest-length salt, pure Ed25519. */
export function signWith(key: TestKey, payload: Uint8Array): Uint8Array {
  const spec = algorithmSpec(key.algorithm);
  switch (spec.family) {
    case 'ed25519':
      return sign(null, payload, key.privateKey);
    case 'ecdsa':
      return sign(spec.hash, payload, { key: key.privateKey, dsaEncoding: 'der' });
    case 'rsa-pkcs1':
      return sign(spec.hash, payload, { key: key.privateKey, padding: constants.RSA_PKCS1_PADDING });
    case 'rsa-pss':
      return sign(spec.hash, payload, {
        key: key.privateKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
      });
  }
}

/** A digest made from a label, so tests read well. */
export function digestOf(label: string): string {
  let hex = '';
  for (let i = 0; hex.length < 64; i++) hex += ((label.charCodeAt(i % label.length) + i) % 16).toString(16);
  return `sha256:${hex}`;
}

/** A simple-signing payload as bytes. */
export function payloadFor(
  name: string,
  digest: string,
  type = 'Google cloud binauthz container signature',
): Uint8Array {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': name },
        image: { 'docker-manifest-digest': digest },
        type,
      },
    }),
  );
}

/** An attestor document (Binary Authorization shape) for the given keys. */
export function attestorDoc(
  name: string,
  keys: readonly { id: string; key: TestKey }[],
  threshold?: number,
): object {
  return {
    name,
    userOwnedGrafeasNote: {
      publicKeys: keys.map(({ id, key }) => ({
        id,
        pkixPublicKey: { publicKeyPem: key.publicPem, signatureAlgorithm: key.algorithm },
      })),
    },
    ...(threshold === undefined ? {} : { criguard: { threshold } }),
  };
}

/** Rule shorthand. */
export function rule(
  evaluationMode: 'ALWAYS_ALLOW' | 'ALWAYS_DENY' | 'REQUIRE_ATTESTATION',
  attestors: string[] = [],
  enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG' | 'DRYRUN_AUDIT_LOG_ONLY' = 'ENFORCED_BLOCK_AND_AUDIT_LOG',
): object {
  return {
    evaluationMode,
    enforcementMode,
    ...(attestors.length > 0 ? { requireAttestationsBy: attestors } : {}),
  };
}
