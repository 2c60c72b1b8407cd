import type { TrustedAttestor } from '../verify/verify-attestations.js';
import type { CompiledNamePattern } from './name-pattern.js';

/** Most image rules a policy may have (they are matched one by one). */
export const MAX_IMAGE_RULES = 256;

/** A compiled `criguard.imageRules` entry: images it covers and the attestors it adds. */
export interface CompiledImageRule {
  readonly pattern: CompiledNamePattern;
  readonly attestors: readonly TrustedAttestor[];
}

/**
 * Whether a normalised repository `name` (and `digest`) matches one compiled name pattern, with the
 * allowlist's meaning: exact name, trailing `*` one path level, trailing `**` any depth, `name@digest` both.
 */
export function matchesNamePattern(pattern: CompiledNamePattern, name: string, digest: string): boolean {
  switch (pattern.kind) {
    case 'exact':
      return name === pattern.name;
    case 'digest':
      return name === pattern.name && digest === pattern.digest;
    case 'one-level': {
      const rest = name.startsWith(pattern.prefix) ? name.slice(pattern.prefix.length) : undefined;
      return rest !== undefined && rest.length > 0 && !rest.includes('/');
    }
    case 'any-depth':
      return name.startsWith(pattern.prefix) && name.length > pattern.prefix.length;
  }
}

/** The image rules that cover an image, in policy order. */
export function matchingImageRules(
  rules: readonly CompiledImageRule[],
  name: string,
  digest: string,
): CompiledImageRule[] {
  return rules.filter((r) => matchesNamePattern(r.pattern, name, digest));
}
