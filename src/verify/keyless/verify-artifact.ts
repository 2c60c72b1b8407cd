import { createHash } from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import { HashAlgorithm } from '@sigstore/protobuf-specs';
import { IN_TOTO_PAYLOAD_TYPE, MAX_DSSE_BODY_BYTES, subjectsName } from '../dsse.js';
import type { KeylessIdentity, SignerIdentity } from './identity.js';
import type { KeylessTrust } from './trusted-root.js';
import { matchIdentity, verifyKeylessBundle } from './verify-bundle.js';
import type { KeylessRejection, KeylessThresholds } from './verify-bundle.js';

/** Outcome of verifyArtifactBundle: verified with who signed, or why not. */
export type ArtifactVerification =
  | {
      readonly ok: true;
      readonly signer: SignerIdentity;
      readonly identity: string;
      /** The in-toto predicate type of a DSSE bundle (undefined for a message signature). */
      readonly predicateType: string | undefined;
    }
  | {
      readonly ok: false;
      readonly reason: KeylessRejection | 'DIGEST_MISMATCH' | 'PAYLOAD_INVALID';
      readonly detail: string;
      readonly signer?: SignerIdentity | undefined;
    };

/**
 * Verifies one Sigstore bundle for an artifact digest (`sha256:<hex>`, or `sha512:<hex>` for DSSE), the
 * way `cosign verify-blob`/`verify-blob-attestation` do, offline: the bundle verifies against `trust`
 * (verifyKeylessBundle), the certificate matches one of `identities`, and the signature covers the digest
 * (a DSSE in-toto subject with that digest, whatever the predicate; or a message signature whose digest
 * is it — `artifact`, the bytes themselves, is then needed to check the signature). Pure, never throws.
 */
export function verifyArtifactBundle(
  bundle: Bundle,
  digest: string,
  artifact: Uint8Array | undefined,
  trust: KeylessTrust,
  identities: readonly KeylessIdentity[],
  thresholds?: KeylessThresholds,
): ArtifactVerification {
  const [algorithm = '', hex = ''] = digest.split(':');
  let predicateType: string | undefined;
  if (bundle.content.$case === 'messageSignature') {
    const md = bundle.content.messageSignature.messageDigest;
    if (
      algorithm !== 'sha256' ||
      md?.algorithm !== HashAlgorithm.SHA2_256 ||
      Buffer.from(md.digest).toString('hex') !== hex
    ) {
      return { ok: false, reason: 'DIGEST_MISMATCH', detail: `the message signature is not over ${digest}` };
    }
    if (artifact === undefined) {
      return {
        ok: false,
        reason: 'SIGNATURE_INVALID',
        detail: 'a message-signature bundle is checked against the artifact itself: give --artifact FILE',
      };
    }
    if (createHash('sha256').update(artifact).digest('hex') !== hex) {
      return { ok: false, reason: 'DIGEST_MISMATCH', detail: `the artifact's digest is not ${digest}` };
    }
  } else {
    const env = bundle.content.dsseEnvelope;
    const subject = inTotoSubject(env.payloadType, env.payload, algorithm, hex);
    if (typeof subject !== 'string' && !subject.ok) return subject.failure;
    predicateType = typeof subject === 'string' ? subject : undefined;
  }
  const check = verifyKeylessBundle(bundle, artifact, trust, thresholds);
  if (!check.ok) return check;
  const identity = matchIdentity(identities, check.signer);
  if (identity === undefined) {
    return {
      ok: false,
      reason: 'IDENTITY_MISMATCH',
      detail: `signed by ${check.signer.subject ?? '(no subject)'} (issuer ${check.signer.issuer ?? 'none'})`,
      signer: check.signer,
    };
  }
  return { ok: true, signer: check.signer, identity: identity.label, predicateType };
}

function inTotoSubject(
  payloadType: string,
  payload: Uint8Array,
  algorithm: string,
  hex: string,
): string | { ok: false; failure: ArtifactVerification } {
  const fail = (reason: 'DIGEST_MISMATCH' | 'PAYLOAD_INVALID', detail: string) => ({
    ok: false as const,
    failure: { ok: false as const, reason, detail },
  });
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE || payload.length > MAX_DSSE_BODY_BYTES) {
    return fail('PAYLOAD_INVALID', `DSSE payload type ${payloadType} is not an in-toto statement`);
  }
  let statement: { predicateType?: unknown; subject?: unknown };
  try {
    statement = JSON.parse(Buffer.from(payload).toString('utf8')) as typeof statement;
  } catch {
    return fail('PAYLOAD_INVALID', 'the in-toto statement is not JSON');
  }
  const subjects = Array.isArray(statement.subject) ? statement.subject.slice(0, 1024) : [];
  const named = subjectsName(subjects, algorithm, hex);
  if (!named) return fail('DIGEST_MISMATCH', `no subject of the in-toto statement has ${algorithm}:${hex}`);
  return typeof statement.predicateType === 'string' ? statement.predicateType : '';
}
