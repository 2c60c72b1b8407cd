import type { AttestationRecord } from '../verify/attestation.js';

/**
 * Where attestations come from (local directory, registry). `fetch` resolves to every record found for the
 * digest (possibly none) and rejects when it cannot tell (I/O error, limit exceeded): the caller treats a
 * rejection as "could not decide". Records are untrusted: verification happens in `verify/`.
 */
export interface AttestationSource {
  fetch(imageName: string, digest: string, signal?: AbortSignal): Promise<AttestationRecord[]>;
}
