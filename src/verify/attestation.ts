import type { Bundle } from '@sigstore/bundle';

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
  /**
   * The Sigstore bundle the record came from (cosign 3 bundles, or a cosign `.sig` layer's certificate,
   * chain and Rekor SET assembled into one). Keyless attestors verify it; `payload` is then the PAE (DSSE)
   * or the signed bytes (message signature).
   */
  readonly sigstoreBundle?: Bundle | undefined;
  /** Where it came from (file path, registry tag), for explanations only; never trusted. */
  readonly source?: string | undefined;
}
