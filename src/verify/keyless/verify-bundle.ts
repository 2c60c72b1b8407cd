import type { Bundle } from '@sigstore/bundle';
import { isBundleWithDsseEnvelope } from '@sigstore/bundle';
import { X509Certificate } from '@sigstore/core';
import { PolicyError, toSignedEntity, VerificationError, Verifier } from '@sigstore/verify';
import type { Signer } from '@sigstore/verify';
import { encodeDssePae } from '../dsse.js';
import type { KeylessIdentity, SignerIdentity } from './identity.js';
import { prepareLeaf } from './certificate-cost.js';
import { prepareTimestamp } from './timestamp-time.js';
import type { KeylessTrust } from './trusted-root.js';

/**
 * How much independent evidence a keyless signature needs. Defaults (1, 1, 1) are Sigstore's and cosign's:
 * one SCT from a CT log of the root, one transparency-log entry (SET or inclusion proof + checkpoint) and
 * one verified time (a SET's integrated time or an RFC 3161 timestamp) inside the certificate's validity.
 */
export interface KeylessThresholds {
  readonly ctlog: number;
  readonly tlog: number;
  readonly timestamp: number;
}
export const DEFAULT_KEYLESS_THRESHOLDS: KeylessThresholds = Object.freeze({
  ctlog: 1,
  tlog: 1,
  timestamp: 1,
});

/** Why a keyless signature was not accepted (names are also EvidenceRejection values). */
export type KeylessRejection =
  | 'NOT_KEYLESS'
  | 'CERTIFICATE_INVALID'
  | 'TRANSPARENCY_LOG_INVALID'
  | 'TIMESTAMP_INVALID'
  | 'SIGNATURE_INVALID'
  | 'IDENTITY_MISMATCH';

/** Result of the identity-independent part: who signed (certificate verified) and the bytes signed. */
export type KeylessCheck =
  | { readonly ok: true; readonly signer: SignerIdentity; readonly signedBytes: Uint8Array }
  | { readonly ok: false; readonly reason: KeylessRejection; readonly detail: string };

const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';

const verifiers = new WeakMap<KeylessTrust, Map<string, Verifier>>();

/**
 * Verifies a Sigstore bundle offline against `trust`, with sigstore-js: the certificate chains to a
 * certificate authority of the root that was valid at the verified signing time, its SCTs verify against
 * CT logs of the root, each transparency-log entry is included (SET or inclusion proof with a checkpoint
 * signed by a log of the root) and matches the signature, RFC 3161 timestamps verify against the root's
 * timestamp authorities, and the signature verifies with the certificate's key. `artifact`: the signed
 * bytes of a message-signature bundle (ignored for DSSE). A bundle signed with a key (no certificate) is
 * NOT_KEYLESS. Synchronous CPU work of about a millisecond; never throws.
 */
export function verifyKeylessBundle(
  bundle: Bundle,
  artifact: Uint8Array | undefined,
  trust: KeylessTrust,
  thresholds: KeylessThresholds = DEFAULT_KEYLESS_THRESHOLDS,
): KeylessCheck {
  const material = bundle.verificationMaterial.content;
  if (material.$case === 'publicKey') {
    return { ok: false, reason: 'NOT_KEYLESS', detail: 'signed with a key, not a Fulcio certificate' };
  }
  const dsse = isBundleWithDsseEnvelope(bundle);
  if (!dsse && artifact === undefined) {
    return { ok: false, reason: 'SIGNATURE_INVALID', detail: 'a message signature needs the signed bytes' };
  }
  let signer: Signer;
  // sigstore-js's ASN.1 parser throws and catches while probing OCTET STRINGs, and its failures are
  // reported by message: capturing stack traces would only cost time.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    const entity = toSignedEntity(bundle, artifact === undefined ? undefined : Buffer.from(artifact));
    if (entity.key.$case === 'certificate') prepareLeaf(entity.key.certificate);
    for (const stamp of entity.timestamps) {
      if (stamp.$case === 'timestamp-authority') prepareTimestamp(stamp.timestamp);
    }
    signer = verifierFor(trust, thresholds).verify(entity);
  } catch (err) {
    return rejection(err);
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  const signedBytes = dsse
    ? encodeDssePae(bundle.content.dsseEnvelope.payloadType, bundle.content.dsseEnvelope.payload)
    : (artifact ?? new Uint8Array());
  return { ok: true, signer: signerIdentity(signer), signedBytes };
}

/**
 * What the bundle's leaf certificate *claims* about its signer, parsed without verifying anything. Only
 * ever used to skip bundles that cannot match an identity before the costly checks (a claim that matches is
 * still fully verified); undefined when there is no certificate or it does not parse.
 */
export function claimedSigner(bundle: Bundle): SignerIdentity | undefined {
  const material = bundle.verificationMaterial.content;
  const raw =
    material.$case === 'certificate'
      ? material.certificate.rawBytes
      : material.$case === 'x509CertificateChain'
        ? material.x509CertificateChain.certificates[0]?.rawBytes
        : undefined;
  if (raw === undefined) return undefined;
  try {
    const cert = X509Certificate.parse(Buffer.from(raw));
    const extensions = new Map<string, string>();
    for (const ext of cert.extensions) {
      const first = ext.subs[0];
      const last = ext.subs[ext.subs.length - 1];
      if (first !== undefined && last !== undefined) {
        extensions.set(first.toOID(), last.value.toString('utf8'));
      }
    }
    const v2 = cert.extension(OID_ISSUER_V2)?.valueObj.subs[0]?.value.toString('utf8');
    return Object.freeze({
      subject: cert.subjectAltName,
      issuer: v2 ?? extensions.get(OID_ISSUER_V1),
      extensions,
    });
  } catch {
    return undefined;
  }
}

/** The first identity of `identities` the signer matches, if any. */
export function matchIdentity(
  identities: readonly KeylessIdentity[],
  signer: SignerIdentity,
): KeylessIdentity | undefined {
  return identities.find((identity) => identity.matches(signer));
}

function verifierFor(trust: KeylessTrust, t: KeylessThresholds): Verifier {
  const key = `${t.ctlog}/${t.tlog}/${t.timestamp}`;
  let byThresholds = verifiers.get(trust);
  if (byThresholds === undefined) {
    byThresholds = new Map();
    verifiers.set(trust, byThresholds);
  }
  let verifier = byThresholds.get(key);
  if (verifier === undefined) {
    verifier = new Verifier(trust.material, {
      ctlogThreshold: t.ctlog,
      tlogThreshold: t.tlog,
      timestampThreshold: t.timestamp,
    });
    byThresholds.set(key, verifier);
  }
  return verifier;
}

function signerIdentity(signer: Signer): SignerIdentity {
  const extensions = new Map<string, string>();
  for (const { oid, value } of signer.identity?.oids ?? []) {
    const dotted = oid?.id.join('.');
    if (dotted !== undefined) extensions.set(dotted, Buffer.from(value).toString('utf8'));
  }
  return Object.freeze({
    subject: signer.identity?.subjectAlternativeName,
    issuer: signer.identity?.extensions?.issuer ?? extensions.get(OID_ISSUER_V1),
    extensions,
  });
}

function rejection(err: unknown): KeylessCheck {
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
  const detail = `${err instanceof Error ? err.message : String(err)}${cause}`;
  if (err instanceof VerificationError) {
    switch (err.code) {
      case 'TLOG_ERROR':
      case 'TLOG_BODY_ERROR':
      case 'TLOG_INCLUSION_PROMISE_ERROR':
      case 'TLOG_INCLUSION_PROOF_ERROR':
      case 'TLOG_MISSING_INCLUSION_ERROR':
        return { ok: false, reason: 'TRANSPARENCY_LOG_INVALID', detail };
      case 'TIMESTAMP_ERROR':
        return { ok: false, reason: 'TIMESTAMP_INVALID', detail };
      case 'SIGNATURE_ERROR':
        return { ok: false, reason: 'SIGNATURE_INVALID', detail };
      default:
        return { ok: false, reason: 'CERTIFICATE_INVALID', detail };
    }
  }
  if (err instanceof PolicyError) return { ok: false, reason: 'IDENTITY_MISMATCH', detail };
  return { ok: false, reason: 'CERTIFICATE_INVALID', detail };
}
