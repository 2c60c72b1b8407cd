/** Result of resolving a rule's attestor reference against the defined attestor names. */
export type AttestorNameResolution =
  | { readonly kind: 'found'; readonly name: string }
  | { readonly kind: 'unknown' }
  | { readonly kind: 'ambiguous' };

function shortName(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

/**
 * Resolves `ref` (`projects/P/attestors/A` or `A`) against `defined`: an exact match wins; a short
 * reference matches any attestor with that short name; a full reference also matches an attestor defined
 * by its short name only (never one in another project). More than one candidate → ambiguous.
 */
export function resolveAttestorName(ref: string, defined: readonly string[]): AttestorNameResolution {
  if (defined.includes(ref)) return { kind: 'found', name: ref };
  const full = ref.includes('/');
  const candidates = defined.filter((d) =>
    full ? !d.includes('/') && d === shortName(ref) : shortName(d) === ref,
  );
  if (candidates.length === 0) return { kind: 'unknown' };
  if (candidates.length > 1) return { kind: 'ambiguous' };
  return { kind: 'found', name: candidates[0] as string };
}
