import { constants, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { algorithmSpec, toSignatureAlgorithm } from '../verify/algorithms.js';
import type { SignatureAlgorithm } from '../verify/algorithms.js';
import { defaultKeyId } from '../verify/public-key.js';
import { COSIGN_KEY_LABELS, decryptCosignKey } from './cosign-key.js';
import { SigningError } from './errors.js';

/** A private key ready to sign: the algorithm it signs with and the default key id of its public half. */
export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly algorithm: SignatureAlgorithm;
  /** `ni:///sha-256;…` of the public key (Binary Authorization's default PKIX key id). */
  readonly keyId: string;
}

const PEM = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/;

/**
 * Loads a PEM private key: criguard's (PKCS#8 `PRIVATE KEY`), OpenSSL's (`EC PRIVATE KEY`,
 * `RSA PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`) or cosign's (`ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY`).
 * `algorithmName` picks the RSA scheme (default PKCS#1 v1.5 with SHA-256); for EC and Ed25519 it must
 * match the key. Throws SigningError `CG_ERR_SIGNING_KEY_INVALID`, `CG_ERR_SIGNING_KEY_UNSUPPORTED`
 * or `CG_ERR_SIGNING_KEY_PASSPHRASE`.
 */
export function loadSigningKey(
  pem: string,
  passphrase: string | undefined,
  algorithmName?: string,
): SigningKey {
  const m = PEM.exec(pem);
  if (m === null) throw new SigningError('CG_ERR_SIGNING_KEY_INVALID', 'no PEM block found');
  const label = m[1] ?? '';
  let privateKey: KeyObject;
  if ((COSIGN_KEY_LABELS as readonly string[]).includes(label)) {
    if (passphrase === undefined)
      throw new SigningError('CG_ERR_SIGNING_KEY_PASSPHRASE', 'encrypted key needs a passphrase');
    privateKey = decryptCosignKey((m[2] ?? '').replace(/\s+/g, ''), passphrase);
  } else {
    if (label === 'ENCRYPTED PRIVATE KEY' && passphrase === undefined) {
      throw new SigningError('CG_ERR_SIGNING_KEY_PASSPHRASE', 'encrypted key needs a passphrase');
    }
    try {
      privateKey = createPrivateKey({
        key: m[0],
        format: 'pem',
        ...(passphrase === undefined ? {} : { passphrase }),
      });
    } catch {
      throw new SigningError(
        label === 'ENCRYPTED PRIVATE KEY' ? 'CG_ERR_SIGNING_KEY_PASSPHRASE' : 'CG_ERR_SIGNING_KEY_INVALID',
        'cannot read the private key',
      );
    }
  }
  const algorithm = chooseAlgorithm(privateKey, algorithmName);
  const publicKey = createPublicKey(privateKey);
  return Object.freeze({ privateKey, publicKey, algorithm, keyId: defaultKeyId(publicKey) });
}

function chooseAlgorithm(key: KeyObject, requested: string | undefined): SignatureAlgorithm {
  const details = key.asymmetricKeyDetails ?? {};
  let inferred: string | undefined;
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      inferred = 'ED25519';
      break;
    case 'ec':
      inferred = {
        prime256v1: 'ECDSA_P256_SHA256',
        secp384r1: 'ECDSA_P384_SHA384',
        secp521r1: 'ECDSA_P521_SHA512',
      }[details.namedCurve ?? ''];
      break;
    case 'rsa':
      inferred = `RSA_SIGN_PKCS1_${details.modulusLength ?? 0}_SHA256`;
      break;
    default:
      // Other key types (rsa-pss, dsa, x25519, …) have no default algorithm: only a requested one that
      // fits the key (checked below) can sign.
      inferred = undefined;
  }
  const algorithm = toSignatureAlgorithm(requested ?? inferred ?? '');
  if (algorithm === undefined)
    throw new SigningError('CG_ERR_SIGNING_KEY_UNSUPPORTED', 'unsupported key type or algorithm');
  const spec = algorithmSpec(algorithm);
  const fits =
    spec.family === 'ed25519'
      ? key.asymmetricKeyType === 'ed25519'
      : spec.family === 'ecdsa'
        ? key.asymmetricKeyType === 'ec' && details.namedCurve === spec.curve
        : key.asymmetricKeyType === 'rsa' && details.modulusLength === spec.bits;
  if (!fits) throw new SigningError('CG_ERR_SIGNING_KEY_UNSUPPORTED', `the key does not fit ${algorithm}`);
  return algorithm;
}

/** Signs the exact payload bytes; ECDSA signatures are ASN.1 DER, RSA-PSS uses a digest-length salt. */
export function signPayload(key: SigningKey, payload: Uint8Array): Uint8Array {
  const spec = algorithmSpec(key.algorithm);
  switch (spec.family) {
    case 'ed25519':
      return new Uint8Array(sign(null, payload, key.privateKey));
    case 'ecdsa':
      return new Uint8Array(sign(spec.hash, payload, { key: key.privateKey, dsaEncoding: 'der' }));
    case 'rsa-pkcs1':
      return new Uint8Array(
        sign(spec.hash, payload, { key: key.privateKey, padding: constants.RSA_PKCS1_PADDING }),
      );
    case 'rsa-pss':
      return new Uint8Array(
        sign(spec.hash, payload, {
          key: key.privateKey,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
        }),
      );
  }
}
