import { isMap, isScalar, parseDocument } from 'yaml';
import { z } from 'zod';

/** The end marker: the last top-level field of every end-marked file (`end: true`). */
export const END_FIELD = 'end';

/** The schema of the end marker field: exactly `true`. */
export const endMarker = z.literal(true, { error: 'the end marker must be exactly `end: true`' });

/**
 * Why bytes are not a complete, valid end-marked document: over the size cap; no end marker (maybe
 * half-written); or not UTF-8, not YAML/JSON, the marker not last, or the schema's field errors (`lines`,
 * each `path: message`).
 */
export type EndMarkedFailure =
  | { readonly kind: 'too-large' }
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'invalid'; readonly lines: readonly string[] };

/**
 * Parses the bytes of a file that operators or the CLI write in place (YAML or JSON): at most `maxBytes`,
 * strict UTF-8, unique keys, at most 10 aliases, then `schema`. A top-level map must hold `end` and have
 * it as its **last** field, so that a file read while it is being written (any prefix that cuts into a
 * valid file) is never valid; `schema` must require `[END_FIELD]: endMarker`. Pure; never throws; fail
 * closed: a value is returned only for a complete, valid document.
 */
export function parseEndMarkedDocument<S extends z.ZodType>(
  bytes: Uint8Array,
  options: { readonly maxBytes: number; readonly schema: S },
): { ok: true; value: z.output<S> } | { ok: false; failure: EndMarkedFailure } {
  if (bytes.length > options.maxBytes) return { ok: false, failure: { kind: 'too-large' } };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return invalid(['(root): not UTF-8 text']);
  }
  let data: unknown;
  try {
    const doc = parseDocument(text, { uniqueKeys: true, strict: true, prettyErrors: false });
    if (doc.errors.length > 0) {
      return invalid(doc.errors.map((e) => `(syntax): ${e.message.split('\n')[0] ?? e.code}`));
    }
    const contents = doc.contents;
    if (isMap(contents)) {
      const last = contents.items.at(-1)?.key;
      const hasEnd = contents.items.some((item) => isScalar(item.key) && item.key.value === END_FIELD);
      if (!hasEnd) return { ok: false, failure: { kind: 'incomplete' } };
      if (!isScalar(last) || last.value !== END_FIELD) {
        return invalid([`${END_FIELD}: must be the last field of the file`]);
      }
    }
    data = doc.toJS({ maxAliasCount: 10 });
  } catch (err) {
    return invalid([`(syntax): ${err instanceof Error ? err.message : String(err)}`]);
  }
  const parsed = options.schema.safeParse(data);
  if (!parsed.success) {
    return invalid(
      parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`),
    );
  }
  return { ok: true, value: parsed.data };
}

function invalid(lines: readonly string[]): { ok: false; failure: EndMarkedFailure } {
  return { ok: false, failure: { kind: 'invalid', lines } };
}
