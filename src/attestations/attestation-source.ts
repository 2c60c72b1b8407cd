import type { ImageIdentity } from '../reference/image-reference.js';
import type { RegistryCredentials } from '../registry/credentials.js';
import type { AttestationRecord } from '../verify/attestation.js';

/**
 * Where attestations come from (local directory, registry, on-disk cache): admission's evidence port
 * (admission/ports.ts EvidenceSource), implemented directly. `fetch` resolves to every record found for
 * the image's digest (possibly none) and rejects when it cannot tell (I/O error, limit exceeded): the
 * caller treats a rejection as "could not decide". `credentials` are the kubelet's for the image's
 * registry host (undefined when it sent none); sources that do not ask a registry ignore them. Records
 * are untrusted: verification happens in `verify/`.
 */
export interface AttestationSource {
  /**
   * Fetched at the same time as the source before it (an independent request to the same registry);
   * cancelled through its signal when the records before it already admit.
   */
  readonly overlap?: boolean;
  fetch(
    image: ImageIdentity,
    credentials: RegistryCredentials | undefined,
    signal?: AbortSignal,
  ): Promise<AttestationRecord[]>;
}
