import type { CompiledNamePattern } from './name-pattern.js';

/** Why an image is exempt from the rules. */
export interface AllowlistMatch {
  /** `node-critical` for `criguard.nodeCriticalImages`, `allowlist` for `admissionWhitelistPatterns`. */
  readonly kind: 'node-critical' | 'allowlist';
  /** The pattern (or pinned reference) as written in the policy. */
  readonly pattern: string;
}

interface PrefixEntry {
  readonly prefix: string;
  readonly match: AllowlistMatch;
}

/** Precompiled allowlist: hash look-ups by name, by directory and by digest; no linear scan of patterns. */
export interface AllowlistIndex {
  readonly size: number;
  match(name: string, digest: string | undefined): AllowlistMatch | undefined;
}

/** Builds the index; `entries` are compiled patterns with where they came from. */
export function createAllowlistIndex(
  entries: readonly { readonly compiled: CompiledNamePattern; readonly kind: AllowlistMatch['kind'] }[],
): AllowlistIndex {
  const exact = new Map<string, AllowlistMatch>();
  const pinned = new Map<string, AllowlistMatch>();
  const oneLevel = new Map<string, PrefixEntry[]>();
  const anyDepth = new Map<string, PrefixEntry[]>();
  const push = (map: Map<string, PrefixEntry[]>, prefix: string, match: AllowlistMatch): void => {
    const dir = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    const list = map.get(dir) ?? [];
    list.push(Object.freeze({ prefix, match }));
    map.set(dir, list);
  };
  for (const { compiled, kind } of entries) {
    const match: AllowlistMatch = Object.freeze({ kind, pattern: compiled.pattern });
    switch (compiled.kind) {
      case 'exact':
        if (!exact.has(compiled.name)) exact.set(compiled.name, match);
        break;
      case 'digest': {
        const key = `${compiled.name}@${compiled.digest}`;
        // A node-critical pin wins over an allowlist pin for the same image: it names the stronger reason.
        if (!pinned.has(key) || kind === 'node-critical') pinned.set(key, match);
        break;
      }
      case 'one-level':
        push(oneLevel, compiled.prefix, match);
        break;
      case 'any-depth':
        push(anyDepth, compiled.prefix, match);
        break;
    }
  }

  return Object.freeze({
    size: entries.length,
    match(name: string, digest: string | undefined): AllowlistMatch | undefined {
      if (digest !== undefined && pinned.size > 0) {
        const hit = pinned.get(`${name}@${digest}`);
        if (hit) return hit;
      }
      const byName = exact.get(name);
      if (byName) return byName;
      const lastSlash = name.lastIndexOf('/');
      for (const entry of oneLevel.get(name.slice(0, lastSlash + 1)) ?? []) {
        if (name.startsWith(entry.prefix)) return entry.match;
      }
      if (anyDepth.size > 0) {
        for (let i = name.indexOf('/'); i >= 0; i = name.indexOf('/', i + 1)) {
          for (const entry of anyDepth.get(name.slice(0, i + 1)) ?? []) {
            if (name.startsWith(entry.prefix)) return entry.match;
          }
        }
      }
      return undefined;
    },
  });
}
