import { parseDigest } from './digest.js';
import { InvalidReferenceError } from './errors.js';
import type { ReferenceRejection } from './errors.js';

/** A parsed and normalised image reference (distribution/reference and containerd semantics). */
export interface ImageReference {
  /** Normalised repository name, e.g. `docker.io/library/nginx`. Policies match on this. */
  readonly name: string;
  /** Registry host (with port), e.g. `docker.io`, `localhost:5000`. */
  readonly domain: string;
  /** Repository path below the domain, e.g. `library/nginx`. */
  readonly path: string;
  /** The tag: as written, `latest` when neither tag nor digest was given, undefined for digest-only. */
  readonly tag: string | undefined;
  /** `sha256:<hex>` when the reference carries a digest. When present it is the identity; the tag is informational. */
  readonly digest: string | undefined;
  /** `name@digest` when a digest is present, else `name:tag`. */
  readonly canonical: string;
}

/** An image's identity as policy evaluation sees it: normalised repository name and manifest digest. */
export interface ImageIdentity {
  readonly name: string;
  readonly digest: string;
}

/** Longest input looked at; anything longer is rejected before any pattern matching runs. */
export const MAX_REFERENCE_LENGTH = 4096;
/** Longest repository name (domain + path), as in distribution/reference. */
export const MAX_NAME_LENGTH = 255;

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]{1,5})?$`,
);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const HEX64 = /^[a-f0-9]{64}$/;

function reject(reason: ReferenceRejection, input: string): never {
  throw new InvalidReferenceError('CG_ERR_REFERENCE_INVALID', reason, input);
}

/**
 * Parses an image reference as containerd does (`docker.io/library/` defaults, `index.docker.io` →
 * `docker.io`, ports, default tag `latest`, `name:tag@digest` means the digest) and returns a frozen
 * ImageReference. Rejects, never repairs: throws InvalidReferenceError with code
 * `CG_ERR_REFERENCE_INVALID` (or `CG_ERR_DIGEST_INVALID` for a bad digest) and a `reason`.
 * Bounded time: the length is checked before anything else and no regular expression backtracks.
 */
export function parseImageReference(input: string): ImageReference {
  if (input.length === 0) reject('empty', input);
  if (input.length > MAX_REFERENCE_LENGTH) reject('too-long', input);
  for (let i = 0; i < input.length; i++) {
    const c = input.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) reject('invalid-character', input);
  }
  if (input.includes('://')) reject('scheme-not-allowed', input);
  if (HEX64.test(input)) reject('ambiguous-identifier', input);

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = parseDigest(rest.slice(at + 1)).value;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    if (!TAG.test(tag)) reject('invalid-tag', input);
    rest = rest.slice(0, lastColon);
  }
  const { domain, path } = splitDomain(rest, input);
  const name = `${domain}/${path}`;
  if (tag === undefined && digest === undefined) tag = 'latest';
  const canonical = digest !== undefined ? `${name}@${digest}` : `${name}:${tag ?? 'latest'}`;
  return Object.freeze({ name, domain, path, tag, digest, canonical });
}

/**
 * Normalises a repository name without tag or digest (`nginx` → `docker.io/library/nginx`). Throws
 * InvalidReferenceError `CG_ERR_REFERENCE_INVALID` when the input is not a bare repository name.
 */
export function normaliseRepositoryName(input: string): string {
  const ref = parseImageReference(input);
  if (ref.digest !== undefined || ref.tag !== 'latest' || input.endsWith(':latest')) {
    reject('invalid-path', input);
  }
  return ref.name;
}

/**
 * Parses a reference that must carry a digest and returns its identity {name, digest}.
 * Throws InvalidReferenceError (`CG_ERR_REFERENCE_INVALID`, reason `digest-required` when there is none).
 */
export function parseImageIdentity(input: string): ImageIdentity {
  const ref = parseImageReference(input);
  if (ref.digest === undefined) reject('digest-required', input);
  return Object.freeze({ name: ref.name, digest: ref.digest });
}

/** Splits `[domain/]path` the way distribution's splitDockerDomain does, then validates both parts. */
function splitDomain(remainder: string, input: string): { domain: string; path: string } {
  const slash = remainder.indexOf('/');
  let domain = 'docker.io';
  let path = remainder;
  if (slash >= 0) {
    const first = remainder.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      domain = first;
      path = remainder.slice(slash + 1);
    }
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  // Length before any pattern: keeps every regular expression below on short input.
  if (domain.length + 1 + path.length > MAX_NAME_LENGTH) reject('name-too-long', input);
  if (!DOMAIN.test(domain)) reject('invalid-domain', input);
  if (path.length === 0) reject('invalid-path', input);
  for (const component of path.split('/')) {
    if (PATH_COMPONENT.test(component)) continue;
    if (PATH_COMPONENT.test(component.toLowerCase())) reject('uppercase-path', input);
    reject('invalid-path', input);
  }
  return { domain, path };
}
