import { createAllowlistIndex, type AllowlistIndex } from '../policy/allowlist.js';
import type { CompiledNamePattern } from '../policy/name-pattern.js';

/**
 * What a breakglass covers, as written in the file: everything (`all: true`, explicit), or requests
 * matching every given dimension (namespaces AND images AND digests; any entry within one dimension).
 */
export type BreakglassScope =
  | { readonly all: true }
  | {
      readonly namespaces?: readonly string[];
      readonly images?: readonly string[];
      readonly digests?: readonly string[];
    };

/** A scope ready for matching: sets and a precompiled image-pattern index. Frozen. */
export interface CompiledBreakglassScope {
  /** The scope as written (frozen), for status output and audit records. */
  readonly written: BreakglassScope;
  readonly all: boolean;
  readonly namespaces: ReadonlySet<string> | undefined;
  readonly images: AllowlistIndex | undefined;
  readonly digests: ReadonlySet<string> | undefined;
}

/**
 * One admission request as breakglass sees it. `imageName` is the normalised repository name
 * (`parseImageReference(ref).name`, e.g. `docker.io/library/nginx`); `digest` the manifest digest
 * (`sha256:…`). Unknown values are undefined and never match a dimension that needs them.
 */
export interface BreakglassRequest {
  readonly namespace: string | undefined;
  readonly imageName: string | undefined;
  readonly digest: string | undefined;
}

/** Builds a CompiledBreakglassScope from validated parts; image patterns must already be compiled. */
export function compileBreakglassScope(parts: {
  readonly all?: true;
  readonly namespaces?: readonly string[];
  readonly images?: readonly CompiledNamePattern[];
  readonly digests?: readonly string[];
}): CompiledBreakglassScope {
  const written: BreakglassScope = parts.all
    ? Object.freeze({ all: true as const })
    : Object.freeze({
        ...(parts.namespaces && { namespaces: Object.freeze([...parts.namespaces]) }),
        ...(parts.images && { images: Object.freeze(parts.images.map((p) => p.pattern)) }),
        ...(parts.digests && { digests: Object.freeze([...parts.digests]) }),
      });
  return Object.freeze({
    written,
    all: parts.all === true,
    namespaces: parts.namespaces && new Set(parts.namespaces),
    images:
      parts.images && createAllowlistIndex(parts.images.map((compiled) => ({ compiled, kind: 'allowlist' }))),
    digests: parts.digests && new Set(parts.digests),
  });
}

/**
 * Matches a request against a scope. Returns what matched (`['all']`, or e.g.
 * `['namespace:payments', 'image:gcr.io/acme/**']`) for the audit record, or undefined when the request is
 * outside the scope. A scope with no dimension matches nothing (fail closed). Pure.
 */
export function matchBreakglassScope(
  scope: CompiledBreakglassScope,
  request: BreakglassRequest,
): readonly string[] | undefined {
  if (scope.all) return Object.freeze(['all']);
  const matched: string[] = [];
  if (scope.namespaces) {
    if (request.namespace === undefined || !scope.namespaces.has(request.namespace)) return undefined;
    matched.push(`namespace:${request.namespace}`);
  }
  if (scope.images) {
    if (request.imageName === undefined) return undefined;
    const hit = scope.images.match(request.imageName, request.digest);
    if (!hit) return undefined;
    matched.push(`image:${hit.pattern}`);
  }
  if (scope.digests) {
    if (request.digest === undefined || !scope.digests.has(request.digest)) return undefined;
    matched.push(`digest:${request.digest}`);
  }
  return matched.length > 0 ? Object.freeze(matched) : undefined;
}
