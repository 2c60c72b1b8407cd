/** Caps on what a registry can make criguard read. */
export interface RegistryLimits {
  /** Largest manifest, index or referrers answer (default 4 MiB). */
  readonly maxManifestBytes: number;
  /** Largest blob (default 16 MiB); getBlob may lower it per call. */
  readonly maxBlobBytes: number;
  /** Most referrers accepted in one answer (default 256). */
  readonly maxReferrers: number;
  /** Largest token service answer (default 64 KiB). */
  readonly maxTokenBytes: number;
}

const DEFAULT_LIMITS: RegistryLimits = {
  maxManifestBytes: 4 * 1024 * 1024,
  maxBlobBytes: 16 * 1024 * 1024,
  maxReferrers: 256,
  maxTokenBytes: 64 * 1024,
};

/** The defaults with `overrides` applied, frozen. Throws TypeError unless every limit is a positive integer. */
export function registryLimits(overrides: Partial<RegistryLimits> | undefined): RegistryLimits {
  const limits: RegistryLimits = Object.freeze({ ...DEFAULT_LIMITS, ...overrides });
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isSafeInteger(v) || v <= 0)
      throw new TypeError(`registry limit ${k} must be a positive integer`);
  }
  return limits;
}
