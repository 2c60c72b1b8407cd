import { parseImageReference } from '../reference/image-reference.js';
import type { ImageIdentity } from '../reference/image-reference.js';
import type { AttestationRecord } from './attestation.js';
import { checkInTotoStatement, isDssePae } from './dsse.js';
import { VerifyError } from './errors.js';
import { pgpKeyIdMatches, pgpSignedPayload } from './pgp.js';
import type { PgpTrustedKey } from './pgp.js';
import type { TrustedKey } from './public-key.js';
import { verifySignature } from './signature.js';
import { parseSimpleSigningPayload } from './simple-signing.js';
import type { SimpleSigningPayload } from './simple-signing.js';

/** An attestor as verification needs it: a name, the keys that may sign for it, and how many distinct keys must. */
export interface TrustedAttestor {
  readonly name: string;
  readonly keys: readonly TrustedKey[];
  /** OpenPGP keys (verified beforehand by verifyPgpSignatures, looked up here). */
  readonly pgpKeys?: readonly PgpTrustedKey[] | undefined;
  /** Distinct keys that must verify (1 in Binary Authorization). Counted by key, never by signature. */
  readonly threshold: number;
}

/** Why evidence did not satisfy an attestor, most specific last-seen-wins by rank (see RANK). */
export type EvidenceRejection =
  | 'NO_ATTESTATION'
  | 'KEY_UNKNOWN'
  | 'SIGNATURE_INVALID'
  | 'PAYLOAD_INVALID'
  | 'PAYLOAD_TYPE'
  | 'DIGEST_MISMATCH'
  | 'REFERENCE_MISMATCH'
  | 'THRESHOLD_NOT_MET';

/** Result for one attestor: satisfied or not, the distinct key ids that verified, and why. */
export interface AttestorOutcome {
  readonly attestor: string;
  readonly satisfied: boolean;
  readonly keyIds: readonly string[];
  readonly reason: 'VERIFIED' | EvidenceRejection;
}

/** Options of verifyAttestors. */
export interface VerifyAttestorsOptions {
  /** Also require the payload's docker-reference to name the image's repository (criguard extension). */
  readonly bindDockerReference: boolean;
  /** Records looked at (default 64); later ones are ignored, which can only deny. */
  readonly maxRecords?: number;
  /** Signatures looked at per record (default 16). */
  readonly maxSignaturesPerRecord?: number;
}

const RANK: Readonly<Record<EvidenceRejection, number>> = {
  NO_ATTESTATION: 0,
  KEY_UNKNOWN: 1,
  SIGNATURE_INVALID: 2,
  PAYLOAD_INVALID: 3,
  PAYLOAD_TYPE: 4,
  DIGEST_MISMATCH: 5,
  REFERENCE_MISMATCH: 6,
  THRESHOLD_NOT_MET: 7,
};

type PayloadCheck = { ok: true } | { ok: false; reason: EvidenceRejection };

/**
 * Decides, for each attestor, whether `records` carry valid evidence for `image`: a signature that one of
 * the attestor's keys verifies (key id matched exactly when the signature names one) over a payload that
 * parses, has an accepted type, names `image.digest` (and the repository, when bound). Payloads are only
 * parsed after a trusted key verified them. Pure and total: malformed input yields unsatisfied outcomes,
 * never an exception.
 */
export function verifyAttestors(
  attestors: readonly TrustedAttestor[],
  image: ImageIdentity,
  records: readonly AttestationRecord[],
  options: VerifyAttestorsOptions,
): AttestorOutcome[] {
  const maxRecords = options.maxRecords ?? 64;
  const maxSignatures = options.maxSignaturesPerRecord ?? 16;
  const verified = attestors.map(() => new Set<string>());
  const worst: EvidenceRejection[] = attestors.map(() => 'NO_ATTESTATION');
  const note = (i: number, reason: EvidenceRejection): void => {
    if (RANK[reason] > RANK[worst[i] ?? 'NO_ATTESTATION']) worst[i] = reason;
  };

  for (const record of records.slice(0, maxRecords)) {
    let payloadCheck: PayloadCheck | undefined;
    for (const sig of record.signatures.slice(0, maxSignatures)) {
      attestors.forEach((attestor, i) => {
        const candidates =
          sig.publicKeyId === undefined
            ? attestor.keys
            : attestor.keys.filter((k) => k.id === sig.publicKeyId);
        const pgpCandidates = (attestor.pgpKeys ?? []).filter((k) => pgpKeyIdMatches(k, sig.publicKeyId));
        if (candidates.length === 0 && pgpCandidates.length === 0) return note(i, 'KEY_UNKNOWN');
        const key = candidates.find((k) => verifySignature(k, record.payload, sig.signature));
        if (key === undefined) {
          // OpenPGP: the payload checked is the one the signature carries (a signed message's literal data).
          let signed: Uint8Array | undefined;
          const pgp = pgpCandidates.find((k) => (signed = pgpSignedPayload(k, sig)) !== undefined);
          if (pgp === undefined || signed === undefined) return note(i, 'SIGNATURE_INVALID');
          const check = checkPayload(signed, image, options.bindDockerReference);
          if (!check.ok) return note(i, check.reason);
          verified[i]?.add(pgp.id);
          return;
        }
        payloadCheck ??= checkPayload(record.payload, image, options.bindDockerReference);
        if (!payloadCheck.ok) return note(i, payloadCheck.reason);
        verified[i]?.add(key.id);
      });
    }
  }

  return attestors.map((attestor, i) => {
    const keyIds = Object.freeze([...(verified[i] ?? [])].sort());
    const satisfied = keyIds.length >= attestor.threshold;
    const reason = satisfied
      ? 'VERIFIED'
      : keyIds.length > 0
        ? 'THRESHOLD_NOT_MET'
        : (worst[i] ?? 'NO_ATTESTATION');
    return Object.freeze({ attestor: attestor.name, satisfied, keyIds, reason });
  });
}

/** Payload checks after a trusted key verified the bytes. */
function checkPayload(payload: Uint8Array, image: ImageIdentity, bindReference: boolean): PayloadCheck {
  if (isDssePae(payload)) {
    // A DSSE envelope (Sigstore bundle): the signed bytes are PAE(type, in-toto statement); its subject
    // must name the image digest. An in-toto statement names no repository, so binding cannot hold.
    const check = checkInTotoStatement(payload, image.digest);
    if (check !== 'OK') return { ok: false, reason: check };
    return bindReference ? { ok: false, reason: 'REFERENCE_MISMATCH' } : { ok: true };
  }
  let parsed: SimpleSigningPayload;
  try {
    parsed = parseSimpleSigningPayload(payload);
  } catch (err) {
    const code = err instanceof VerifyError ? err.code : undefined;
    return { ok: false, reason: code === 'CG_ERR_PAYLOAD_TYPE' ? 'PAYLOAD_TYPE' : 'PAYLOAD_INVALID' };
  }
  if (parsed.manifestDigest !== image.digest) return { ok: false, reason: 'DIGEST_MISMATCH' };
  if (bindReference && !namesRepository(parsed.dockerReference, image.name)) {
    return { ok: false, reason: 'REFERENCE_MISMATCH' };
  }
  return { ok: true };
}

function namesRepository(dockerReference: string, name: string): boolean {
  try {
    return parseImageReference(dockerReference).name === name;
  } catch {
    return false;
  }
}
