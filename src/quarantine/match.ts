import { createAllowlistIndex, type AllowlistIndex } from '../policy/allowlist.js';
import type { QuarantineEntry } from './document.js';

/**
 * One image as the quarantine sees it: every name it is known by (normalised repository names, each with
 * the manifest digest it has under that name when known) and every digest it has (manifest and index
 * digests, the platform manifest judged, the image id). An image is quarantined when **any** of them
 * matches an entry in force: a quarantine cannot be dodged by pulling the same content under another name.
 */
export interface QuarantineSubject {
  readonly names: readonly { readonly name: string; readonly digest: string | undefined }[];
  readonly digests: readonly string[];
}

/** The entry that matched, and what of the image matched it (`digest:sha256:…` or `image:<name>`). */
export interface QuarantineMatch {
  readonly entry: QuarantineEntry;
  readonly matched: string;
}

/** Entries ready for matching; rebuilt only when an entry's expiry passes. */
export interface QuarantineMatcher {
  /** The first entry in force at `now` that matches `subject`, or undefined. Pure apart from a memo. */
  match(subject: QuarantineSubject, now: number): QuarantineMatch | undefined;
  /** Entries in force at `now` (not expired). */
  inForce(now: number): readonly QuarantineEntry[];
}

/**
 * Compiles entries into hash look-ups: digests in a set, patterns in the allowlist's index (the same
 * matching as `admissionWhitelistPatterns` and breakglass scopes). Expiry is applied at every call: an
 * entry stops matching at its `expiresAt` without any file event.
 */
export function createQuarantineMatcher(entries: readonly QuarantineEntry[]): QuarantineMatcher {
  let builtFor: { validUntil: number; validFrom: number } | undefined;
  let digests = new Map<string, QuarantineEntry>();
  let patterns: AllowlistIndex = createAllowlistIndex([]);
  let byPattern = new Map<string, QuarantineEntry>();
  let active: readonly QuarantineEntry[] = [];

  const build = (now: number) => {
    if (builtFor && now >= builtFor.validFrom && now < builtFor.validUntil) return;
    active = Object.freeze(entries.filter((e) => e.expiresAtMs === undefined || now < e.expiresAtMs));
    digests = new Map(active.filter((e) => e.kind === 'digest').map((e) => [e.image, e]));
    const named = active.filter((e) => e.compiled !== undefined);
    byPattern = new Map(named.map((e) => [e.image, e]));
    patterns = createAllowlistIndex(
      named.map((e) => ({ compiled: e.compiled!, kind: 'allowlist' as const })),
    );
    // Valid until the next expiry in force; a clock that goes backwards rebuilds (an expired entry may return).
    const next = Math.min(...active.map((e) => e.expiresAtMs ?? Infinity));
    builtFor = { validFrom: now, validUntil: next };
  };

  return Object.freeze({
    match(subject: QuarantineSubject, now: number): QuarantineMatch | undefined {
      if (entries.length === 0) return undefined;
      build(now);
      for (const digest of [...subject.digests, ...subject.names.map((n) => n.digest)]) {
        const entry = digest === undefined ? undefined : digests.get(digest);
        if (entry) return Object.freeze({ entry, matched: `digest:${digest}` });
      }
      for (const { name, digest } of subject.names) {
        const hit = patterns.match(name, digest);
        const entry = hit && byPattern.get(hit.pattern);
        if (entry) return Object.freeze({ entry, matched: `image:${name}${digest ? `@${digest}` : ''}` });
      }
      return undefined;
    },
    inForce(now: number): readonly QuarantineEntry[] {
      build(now);
      return active;
    },
  });
}
