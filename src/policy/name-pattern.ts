import { CriguardError } from '../errors/criguard-error.js';
import { parseDigest } from '../reference/digest.js';
import { parseImageReference } from '../reference/image-reference.js';

/**
 * A compiled `namePattern`. Patterns match normalised repository names on component boundaries:
 * - `exact`: the whole name (`gcr.io/org/app`, `nginx` → `docker.io/library/nginx`);
 * - `one-level`: trailing `*`, the rest of the name contains no `/`;
 * - `any-depth`: trailing `**`, the rest may contain `/`;
 * - `digest`: criguard extension `name@sha256:…`, the name and the digest must both be equal.
 */
export type CompiledNamePattern =
  | { readonly kind: 'exact'; readonly pattern: string; readonly name: string }
  | { readonly kind: 'one-level' | 'any-depth'; readonly pattern: string; readonly prefix: string }
  | { readonly kind: 'digest'; readonly pattern: string; readonly name: string; readonly digest: string };

/** Thrown by compileNamePattern; the loader reports it as `CG_ERR_POLICY_PATTERN_INVALID`. */
export class NamePatternError extends CriguardError<'CG_ERR_POLICY_PATTERN_INVALID'> {
  constructor(message: string) {
    super('CG_ERR_POLICY_PATTERN_INVALID', message);
    this.name = 'NamePatternError';
  }
}

const DOMAIN =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const PARTIAL_COMPONENT = /^[a-z0-9._-]*$/;
const MAX_PATTERN_LENGTH = 512;

/**
 * Compiles one allowlist pattern. Throws NamePatternError (`CG_ERR_POLICY_PATTERN_INVALID`) for a
 * wildcard that is not at the end, a wildcard inside the registry part, a tag (tags are mutable: the node
 * cannot bind one to what runs), or a name the reference grammar rejects. Fail closed.
 */
export function compileNamePattern(pattern: string): CompiledNamePattern {
  if (pattern.length === 0 || pattern.length > MAX_PATTERN_LENGTH) fail('empty or over 512 characters');
  const at = pattern.indexOf('@');
  if (at >= 0) {
    if (pattern.includes('*')) fail('a digest-pinned pattern cannot have a wildcard');
    const name = exactName(pattern.slice(0, at));
    try {
      return Object.freeze({
        kind: 'digest',
        pattern,
        name,
        digest: parseDigest(pattern.slice(at + 1)).value,
      });
    } catch {
      fail('invalid digest (expected sha256: and 64 lowercase hex digits)');
    }
  }
  const star = pattern.indexOf('*');
  if (star < 0) return Object.freeze({ kind: 'exact', pattern, name: exactName(pattern) });
  const tail = pattern.slice(star);
  if (tail !== '*' && tail !== '**') fail('a wildcard may only end the pattern (`*` or `**`)');
  const prefix = normalisePrefix(pattern.slice(0, star));
  return Object.freeze({ kind: tail === '*' ? 'one-level' : 'any-depth', pattern, prefix });
}

function fail(why: string): never {
  throw new NamePatternError(why);
}

function exactName(input: string): string {
  const lastColon = input.lastIndexOf(':');
  if (lastColon > input.lastIndexOf('/')) fail('tags are not supported in patterns; pin a digest instead');
  try {
    return parseImageReference(input).name;
  } catch {
    return fail('not a valid image name');
  }
}

/** Normalises the fixed part before the wildcard the way a reference's name would be normalised. */
function normalisePrefix(fixed: string): string {
  const slash = fixed.indexOf('/');
  if (slash < 0) fail('a wildcard needs a `registry/` (or Docker Hub path) part before it');
  const first = fixed.slice(0, slash);
  let domain = 'docker.io';
  let rest = fixed;
  if (first.includes('.') || first.includes(':') || first === 'localhost') {
    domain = first === 'index.docker.io' ? 'docker.io' : first;
    rest = fixed.slice(slash + 1);
  }
  if (!DOMAIN.test(domain)) fail('invalid registry host');
  if (domain === 'docker.io' && !rest.includes('/')) rest = `library/${rest}`;
  const components = rest.split('/');
  const last = components.pop() ?? '';
  for (const c of components) if (!PATH_COMPONENT.test(c)) fail('invalid path component (lowercase only)');
  if (!PARTIAL_COMPONENT.test(last)) fail('invalid characters before the wildcard');
  return `${domain}/${rest}`;
}
