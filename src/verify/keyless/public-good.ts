import root from './public-good-trusted-root.json' with { type: 'json' };
import { parseTrustedRoot } from './trusted-root.js';
import type { KeylessTrust } from './trusted-root.js';

/**
 * The Sigstore public-good trusted root shipped with criguard (Fulcio CAs, Rekor and CT log keys, the
 * timestamp authority, each with its validity window), so a fresh install verifies keyless signatures
 * of registry.k8s.io and GitHub Actions with no network. It is the `trusted_root.json` target of the
 * public-good TUF repository as embedded in the `@sigstore/tuf` npm package's seed; update it with
 * criguard releases (docs/attestations.md). Parsed once, on first use.
 */
export const PUBLIC_GOOD_SOURCE = 'builtin:sigstore-public-good';

let cached: KeylessTrust | undefined;

/** The shipped public-good trust root (parsed lazily, then shared). */
export function publicGoodTrust(): KeylessTrust {
  cached ??= parseTrustedRoot(root, PUBLIC_GOOD_SOURCE);
  return cached;
}
