import { parseImageReference } from '../reference/image-reference.js';
import type { ImageIdentity } from '../reference/image-reference.js';
import type { AttestationRecord, AttestationSignature } from './attestation.js';
import { checkInTotoStatement, isDssePae } from './dsse.js';
import { VerifyError } from './errors.js';
import { looksLikePgp, pgpKeyIdMatches, pgpSignedPayload } from './pgp.js';
import type { PgpTrustedKey } from './pgp.js';
import type { TrustedKey } from './public-key.js';
import { parseSimpleSigningPayload } from './simple-signing.js';
import type { SimpleSigningPayload } from './simple-signing.js';
import type { KeylessIdentity } from './keyless/identity.js';
import type { KeylessTrust } from './keyless/trusted-root.js';
import { claimedSigner, matchIdentity, verifyKeylessBundle } from './keyless/verify-bundle.js';
import type { KeylessRejection, KeylessThresholds } from './keyless/verify-bundle.js';
import { VerificationSession, keyFingerprint, payloadHash } from './verification-session.js';

/** A keyless attestor's trust: the Sigstore root, the identities that may sign, the evidence required. */
export interface KeylessAttestor {
  readonly trust: KeylessTrust;
  readonly identities: readonly KeylessIdentity[];
  readonly thresholds: KeylessThresholds;
}

/**
 * An attestor as verification needs it: a name, the keys that may sign for it (none for a keyless
 * attestor), and how many distinct keys (keyless: distinct identities of `keyless.identities`) must.
 */
export interface TrustedAttestor {
  readonly name: string;
  readonly keys: readonly TrustedKey[];
  /** OpenPGP keys (verified beforehand by verifyPgpSignatures, looked up here). */
  readonly pgpKeys?: readonly PgpTrustedKey[] | undefined;
  /** Distinct keys that must verify (1 in Binary Authorization). Counted by key, never by signature. */
  readonly threshold: number;
  /** Set for a keyless (Sigstore certificate) attestor; such an attestor holds no keys. */
  readonly keyless?: KeylessAttestor | undefined;
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
  | 'THRESHOLD_NOT_MET'
  | 'VERIFICATION_LIMIT'
  | KeylessRejection;

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
  /**
   * The decision's verification budget and memo; pass the same session when re-evaluating one decision
   * with more evidence. Default: a fresh session with MAX_VERIFICATIONS_PER_DECISION.
   */
  readonly session?: VerificationSession;
}

const RANK: Readonly<Record<EvidenceRejection, number>> = {
  NO_ATTESTATION: 0,
  KEY_UNKNOWN: 1,
  NOT_KEYLESS: 1,
  SIGNATURE_INVALID: 2,
  CERTIFICATE_INVALID: 2,
  TRANSPARENCY_LOG_INVALID: 2,
  TIMESTAMP_INVALID: 2,
  IDENTITY_MISMATCH: 3,
  PAYLOAD_INVALID: 3,
  PAYLOAD_TYPE: 4,
  DIGEST_MISMATCH: 5,
  REFERENCE_MISMATCH: 6,
  THRESHOLD_NOT_MET: 7,
  VERIFICATION_LIMIT: 8,
};

type PayloadCheck = { ok: true } | { ok: false; reason: EvidenceRejection };

/** One signature to look at, with its record. */
interface Candidate {
  readonly record: AttestationRecord;
  readonly signature: AttestationSignature;
}

/** A key of some attestor, deduplicated by key material across attestors. */
interface KeyHolding {
  readonly key: TrustedKey;
  readonly fingerprint: string;
  /** Attestor index → the key's id in that attestor. */
  readonly holders: ReadonlyMap<number, readonly string[]>;
}

/**
 * Decides, for each attestor, whether `records` carry valid evidence for `image`: a signature that one of
 * the attestor's keys verifies (key id matched exactly when the signature names one) over a payload that
 * parses, has an accepted type, names `image.digest` (and the repository, when bound). Payloads are only
 * parsed after a trusted key verified them. Total: malformed input yields unsatisfied outcomes, never a
 * rejection.
 *
 * Cost is bounded and kept off the event loop: each (key material, payload, signature) is verified once
 * for all attestors (memoised in the session), in libuv's threadpool; signatures naming a key id come
 * first; work stops once every attestor is satisfied (keyIds then lists the keys that verified up to that
 * point); when the session's budget is spent, attestors still unsatisfied get VERIFICATION_LIMIT.
 *
 * A signature without a key id that none of an attestor's keys verifies is only held against that
 * attestor (SIGNATURE_INVALID) when no key of any attestor verifies it: another attestor's signature is
 * not tampering, so an attestor with nothing of its own stays NO_ATTESTATION.
 */
export async function verifyAttestors(
  attestors: readonly TrustedAttestor[],
  image: ImageIdentity,
  records: readonly AttestationRecord[],
  options: VerifyAttestorsOptions,
): Promise<AttestorOutcome[]> {
  const maxRecords = options.maxRecords ?? 64;
  const maxSignatures = options.maxSignaturesPerRecord ?? 16;
  const session = options.session ?? new VerificationSession();
  const verified = attestors.map(() => new Set<string>());
  const worst: EvidenceRejection[] = attestors.map(() => 'NO_ATTESTATION');
  const note = (i: number, reason: EvidenceRejection): void => {
    if (RANK[reason] > RANK[worst[i] ?? 'NO_ATTESTATION']) worst[i] = reason;
  };
  const satisfied = (i: number): boolean => (verified[i]?.size ?? 0) >= (attestors[i]?.threshold ?? 1);
  const holdings = holdingsOf(attestors);

  const named: Candidate[] = [];
  const unnamed: Candidate[] = [];
  for (const record of records.slice(0, maxRecords)) {
    for (const signature of record.signatures.slice(0, maxSignatures)) {
      (signature.publicKeyId === undefined ? unnamed : named).push({ record, signature });
    }
  }

  const hashes = new Map<AttestationRecord, string>();
  const payloadChecks = new Map<AttestationRecord, PayloadCheck>();
  let limitHit = false;
  for (const { record, signature } of [...named, ...unnamed]) {
    if (attestors.every((a, i) => a.keyless !== undefined || satisfied(i))) break;
    const keyId = signature.publicKeyId;
    // Keys that could have made this signature: by id when it names one, else every key; keys of
    // attestors still unsatisfied first.
    const candidates = holdings.filter(
      (h) => keyId === undefined || [...h.holders.values()].some((ids) => ids.includes(keyId)),
    );
    if (keyId !== undefined) {
      // An id another attestor of the decision holds is that signer's: only an id nobody holds is unknown.
      if (candidates.length === 0 && !attestors.some((a) => holdsPgpKey(a, keyId))) {
        attestors.forEach(
          (attestor, i) => attestor.keyless === undefined && !satisfied(i) && note(i, 'KEY_UNKNOWN'),
        );
      }
      if (candidates.every((h) => [...h.holders.keys()].every(satisfied))) continue;
    }
    candidates.sort((a, b) => Number(isDone(a, satisfied)) - Number(isDone(b, satisfied)));
    let hash = hashes.get(record);
    if (hash === undefined) {
      hash = payloadHash(record.payload);
      hashes.set(record, hash);
    }
    let signer: KeyHolding | undefined;
    for (const holding of candidates) {
      const result = session.verify(holding.key, record.payload, hash, signature.signature);
      if (result === undefined) {
        limitHit = true;
        break;
      }
      if (await result) {
        signer = holding;
        break;
      }
    }
    if (limitHit) break;
    if (signer === undefined) {
      // A signature that comes with its own certificate is that certificate's holder's, not tampering.
      if (keyId === undefined && hasCertificate(record)) continue;
      for (const h of candidates) {
        h.holders.forEach((ids, i) => {
          if (!satisfied(i) && (keyId === undefined || ids.includes(keyId))) note(i, 'SIGNATURE_INVALID');
        });
      }
      continue;
    }
    for (const [i, ids] of signer.holders) {
      const id = keyId ?? ids[0];
      if (id === undefined || !ids.includes(id) || satisfied(i)) continue;
      let check = payloadChecks.get(record);
      if (check === undefined) {
        check = checkPayload(record.payload, image, options.bindDockerReference);
        payloadChecks.set(record, check);
      }
      if (check.ok) verified[i]?.add(id);
      else note(i, check.reason);
    }
  }

  // OpenPGP keys: signatures were verified beforehand (verifyPgpSignatures); the payload checked is the
  // one the signature carries (a signed message's literal data).
  for (const [i, attestor] of attestors.entries()) {
    const pgpKeys = attestor.pgpKeys ?? [];
    if (pgpKeys.length === 0) continue;
    for (const record of records.slice(0, maxRecords)) {
      if (satisfied(i)) break;
      for (const sig of record.signatures.slice(0, maxSignatures)) {
        let signed: Uint8Array | undefined;
        const pgp = pgpKeys.find(
          (k) => pgpKeyIdMatches(k, sig.publicKeyId) && (signed = pgpSignedPayload(k, sig)) !== undefined,
        );
        if (pgp === undefined || signed === undefined) {
          // Ours when it names one of our PGP keys, or names none and is an OpenPGP signature.
          const ours =
            sig.publicKeyId === undefined
              ? looksLikePgp(sig.signature)
              : pgpKeys.some((k) => pgpKeyIdMatches(k, sig.publicKeyId));
          if (ours) note(i, 'SIGNATURE_INVALID');
          continue;
        }
        const check = checkPayload(signed, image, options.bindDockerReference);
        if (check.ok) verified[i]?.add(pgp.id);
        else note(i, check.reason);
      }
    }
  }

  // Keyless attestors: each bundle verified once per trust root (identity-independent), then matched.
  for (const [i, attestor] of attestors.entries()) {
    const keyless = attestor.keyless;
    if (keyless === undefined || limitHit) continue;
    for (const record of records.slice(0, maxRecords)) {
      if (satisfied(i)) break;
      const bundle = record.sigstoreBundle;
      if (bundle === undefined) continue;
      // A certificate that does not even claim one of the identities cannot satisfy the attestor: skip the
      // costly checks (a claim that matches is still verified in full below).
      const claimed = claimedSigner(bundle);
      if (claimed !== undefined && matchIdentity(keyless.identities, claimed) === undefined) {
        note(i, 'IDENTITY_MISMATCH');
        continue;
      }
      // sigstore-js is synchronous: let other work run between bundles.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const memoKey = `${keyless.trust.digest}/${keyless.thresholds.ctlog}/${keyless.thresholds.tlog}/${keyless.thresholds.timestamp}`;
      const check = session.keyless(record, memoKey, () =>
        verifyKeylessBundle(bundle, record.payload, keyless.trust, keyless.thresholds),
      );
      if (check === undefined) {
        limitHit = true;
        break;
      }
      if (!check.ok) {
        note(i, check.reason);
        continue;
      }
      const identity = matchIdentity(keyless.identities, check.signer);
      if (identity === undefined) {
        note(i, 'IDENTITY_MISMATCH');
        continue;
      }
      const payload = checkPayload(check.signedBytes, image, options.bindDockerReference);
      if (payload.ok) verified[i]?.add(identity.label);
      else note(i, payload.reason);
    }
  }

  return attestors.map((attestor, i) => {
    const keyIds = Object.freeze([...(verified[i] ?? [])].sort());
    const ok = keyIds.length >= attestor.threshold;
    const reason = ok
      ? 'VERIFIED'
      : limitHit
        ? 'VERIFICATION_LIMIT'
        : keyIds.length > 0
          ? 'THRESHOLD_NOT_MET'
          : (worst[i] ?? 'NO_ATTESTATION');
    return Object.freeze({ attestor: attestor.name, satisfied: ok, keyIds, reason });
  });
}

/** Whether `attestor` holds an OpenPGP key with the id a signature names. */
function holdsPgpKey(attestor: TrustedAttestor, keyId: string): boolean {
  return (attestor.pgpKeys ?? []).some((k) => pgpKeyIdMatches(k, keyId));
}

function hasCertificate(record: AttestationRecord): boolean {
  const material = record.sigstoreBundle?.verificationMaterial.content.$case;
  return material === 'certificate' || material === 'x509CertificateChain';
}

/** True when every attestor holding the key is satisfied (its verification can only classify). */
function isDone(holding: KeyHolding, satisfied: (i: number) => boolean): boolean {
  return [...holding.holders.keys()].every(satisfied);
}

/** Every attestor key, one entry per key material, with the attestors (and ids) that hold it. */
function holdingsOf(attestors: readonly TrustedAttestor[]): KeyHolding[] {
  const byFingerprint = new Map<string, { key: TrustedKey; holders: Map<number, string[]> }>();
  attestors.forEach((attestor, i) => {
    for (const key of attestor.keys) {
      const fingerprint = keyFingerprint(key);
      let entry = byFingerprint.get(fingerprint);
      if (entry === undefined) {
        entry = { key, holders: new Map() };
        byFingerprint.set(fingerprint, entry);
      }
      const ids = entry.holders.get(i) ?? [];
      ids.push(key.id);
      entry.holders.set(i, ids);
    }
  });
  return [...byFingerprint].map(([fingerprint, e]) => ({ key: e.key, fingerprint, holders: e.holders }));
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
