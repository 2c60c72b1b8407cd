/** One signature of an attestation (Binary Authorization occurrence shape). */
export interface AttestationSignature {
  /** When present, only the attestor key with exactly this id may verify the signature. */
  readonly publicKeyId?: string | undefined;
  readonly signature: Uint8Array;
}

/** An attestation: the exact payload bytes that were signed and their signatures. */
export interface AttestationRecord {
  readonly payload: Uint8Array;
  readonly signatures: readonly AttestationSignature[];
  /** Where it came from (file path, registry tag), for explanations only; never trusted. */
  readonly source?: string | undefined;
}
