import type { RegistryCallOptions, RegistryClient } from '../registry/registry-client.js';
import type { AttestationRecord } from '../verify/attestation.js';

/** Bounds used by fetchSigstoreBundleRecords. */
export interface BundleLimits {
  readonly maxBundles: number;
  readonly maxBundleBytes: number;
  readonly maxSignatureBytes: number;
}

/** Placeholder, replaced below. */
export async function fetchSigstoreBundleRecords(
  _client: RegistryClient,
  _name: string,
  _digest: string,
  _call: RegistryCallOptions,
  _limits: BundleLimits,
  _skipped: (where: string, reason: string) => void,
): Promise<AttestationRecord[]> {
  return [];
}
