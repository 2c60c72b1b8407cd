import type { TrustedAttestor } from '../verify/verify-attestations.js';
import { createAllowlistIndex } from './allowlist.js';
import type { AllowlistIndex } from './allowlist.js';
import type { CompiledNamePattern } from './name-pattern.js';

/** Most image rules a policy may have (they are matched one by one). */
export const MAX_IMAGE_RULES = 256;

/** A compiled `criguard.imageRules` entry: images it covers and the attestors it adds. */
export interface CompiledImageRule {
  readonly pattern: string;
  readonly attestors: readonly TrustedAttestor[];
  /** The pattern as a one-entry allowlist index: exactly the allowlist's matching rules. */
  readonly index: AllowlistIndex;
}

/** Compiles one image rule (the pattern was validated by the schema). */
export function compileImageRule(
  pattern: CompiledNamePattern,
  attestors: readonly TrustedAttestor[],
): CompiledImageRule {
  return Object.freeze({
    pattern: pattern.pattern,
    attestors: Object.freeze([...attestors]),
    index: createAllowlistIndex([{ compiled: pattern, kind: 'allowlist' }]),
  });
}

/** The image rules that cover an image (same pattern semantics as the allowlist), in policy order. */
export function matchingImageRules(
  rules: readonly CompiledImageRule[],
  name: string,
  digest: string,
): CompiledImageRule[] {
  return rules.filter((r) => r.index.match(name, digest) !== undefined);
}
