import { z } from 'zod';
import {
  END_FIELD,
  endMarker,
  parseEndMarkedDocument,
  type EndMarkedFailure,
} from '../documents/end-marked-document.js';
import { oneLine, timestamp } from '../documents/text-fields.js';
import { parseRfc3339 } from '../documents/rfc3339.js';
import { compileNamePattern, NamePatternError, type CompiledNamePattern } from '../policy/name-pattern.js';
import { isDigest } from '../reference/digest.js';
import { quarantineProblem, type QuarantineProblem } from './problems.js';

/** Largest quarantine file honoured, in bytes. */
export const MAX_QUARANTINE_BYTES = 256 * 1024;
/** Most entries in one quarantine file. */
export const MAX_QUARANTINE_ENTRIES = 1024;
/** Longest `reason`, in characters. */
export const MAX_REASON_LENGTH = 1024;
/** Longest `ticket`, `addedBy` or `by`, in characters. */
export const MAX_LABEL_LENGTH = 256;

/** One quarantined image: an exact digest, or an image name pattern as in the policy's allowlist. */
export interface QuarantineEntry {
  /** As written: `sha256:<hex>`, or a name pattern (`registry/team/app`, `registry/team/*`, `…/**`, `name@sha256:…`). */
  readonly image: string;
  /** `digest` matches any name with that manifest digest or image id; `pattern` matches names. */
  readonly kind: 'digest' | 'pattern';
  readonly reason: string;
  readonly ticket: string | undefined;
  readonly addedBy: string | undefined;
  readonly addedAt: string | undefined;
  /** ISO 8601 UTC, or undefined: quarantined until removed. */
  readonly expiresAt: string | undefined;
  readonly expiresAtMs: number | undefined;
  /** The compiled pattern (`pattern` entries only). */
  readonly compiled: CompiledNamePattern | undefined;
}

/** Who made the last change, as `criguard quarantine add|remove` writes it: audited by the daemon. */
export interface QuarantineChange {
  readonly action: 'add' | 'remove';
  readonly image: string;
  readonly by: string | undefined;
  readonly at: string | undefined;
  readonly reason: string | undefined;
  readonly ticket: string | undefined;
}

/** A parsed, validated quarantine file, independent of the current time. Frozen. */
export interface QuarantineDocument {
  readonly entries: readonly QuarantineEntry[];
  readonly lastChange: QuarantineChange | undefined;
}

const imageField = z.string().min(1).max(600);

const entrySchema = z.strictObject({
  image: imageField,
  reason: oneLine(MAX_REASON_LENGTH),
  ticket: oneLine(MAX_LABEL_LENGTH).optional(),
  addedBy: oneLine(MAX_LABEL_LENGTH).optional(),
  addedAt: timestamp.optional(),
  expiresAt: timestamp.optional(),
});

const documentSchema = z.strictObject({
  entries: z.array(entrySchema).max(MAX_QUARANTINE_ENTRIES),
  lastChange: z
    .strictObject({
      action: z.enum(['add', 'remove']),
      image: imageField,
      by: oneLine(MAX_LABEL_LENGTH).optional(),
      at: timestamp.optional(),
      reason: oneLine(MAX_REASON_LENGTH).optional(),
      ticket: oneLine(MAX_LABEL_LENGTH).optional(),
    })
    .optional(),
  [END_FIELD]: endMarker,
});

/** The plain shape of a quarantine file, as the CLI writes it. */
export type QuarantineFileContent = z.input<typeof documentSchema>;

/**
 * Checks one `image` value: `sha256:<64 hex>` (a digest entry) or a name pattern the policy's allowlist
 * accepts (a pattern entry). Returns the compiled form or why it is not valid. Pure; never throws.
 */
export function compileQuarantineImage(
  image: string,
):
  | { ok: true; kind: 'digest'; compiled: undefined }
  | { ok: true; kind: 'pattern'; compiled: CompiledNamePattern }
  | { ok: false; why: string } {
  if (image.startsWith('sha256:') || image.startsWith('sha512:')) {
    return isDigest(image)
      ? { ok: true, kind: 'digest', compiled: undefined }
      : { ok: false, why: 'not a digest (sha256: and 64 lowercase hex digits)' };
  }
  try {
    return { ok: true, kind: 'pattern', compiled: compileNamePattern(image) };
  } catch (err) {
    return {
      ok: false,
      why: err instanceof NamePatternError ? err.message : 'not a valid image name pattern',
    };
  }
}

/**
 * Parses and validates the bytes of a quarantine file (YAML or JSON): strict UTF-8, unique keys, no
 * unknown fields, bounded sizes, valid digests and patterns, no entry twice, RFC 3339 times, and the end
 * marker `end: true` as the **last** top-level field (a prefix of a valid file is never valid: it would
 * silently drop the entries not yet written). Returns the frozen document or one
 * `CG_ERR_QUARANTINE_TOO_LARGE` / `_INCOMPLETE` / `_PARSE` problem listing every field error.
 * Pure; never throws; no partial document is ever returned.
 */
export function parseQuarantineDocument(
  bytes: Uint8Array,
): { ok: true; document: QuarantineDocument } | { ok: false; problem: QuarantineProblem } {
  const parsed = parseEndMarkedDocument(bytes, { maxBytes: MAX_QUARANTINE_BYTES, schema: documentSchema });
  if (!parsed.ok) return { ok: false, problem: quarantineFileProblem(parsed.failure) };
  const errors: string[] = [];
  const seen = new Set<string>();
  const entries: QuarantineEntry[] = [];
  parsed.value.entries.forEach((entry, i) => {
    const image = compileQuarantineImage(entry.image);
    if (!image.ok) {
      errors.push(`entries.${i}.image: ${image.why}`);
      return;
    }
    if (seen.has(entry.image)) errors.push(`entries.${i}.image: ${entry.image} is listed twice`);
    seen.add(entry.image);
    const expiresAtMs = entry.expiresAt === undefined ? undefined : parseRfc3339(entry.expiresAt);
    entries.push(
      Object.freeze({
        image: entry.image,
        kind: image.kind,
        reason: entry.reason,
        ticket: entry.ticket,
        addedBy: entry.addedBy,
        addedAt: entry.addedAt,
        expiresAt: expiresAtMs === undefined ? undefined : new Date(expiresAtMs).toISOString(),
        expiresAtMs,
        compiled: image.compiled,
      }),
    );
  });
  if (errors.length > 0) return { ok: false, problem: parseProblem(errors) };
  const change = parsed.value.lastChange;
  return {
    ok: true,
    document: Object.freeze({
      entries: Object.freeze(entries),
      lastChange:
        change &&
        Object.freeze({
          action: change.action,
          image: change.image,
          by: change.by,
          at: change.at,
          reason: change.reason,
          ticket: change.ticket,
        }),
    }),
  };
}

function quarantineFileProblem(failure: EndMarkedFailure): QuarantineProblem {
  switch (failure.kind) {
    case 'too-large':
      return quarantineProblem('CG_ERR_QUARANTINE_TOO_LARGE', `over ${MAX_QUARANTINE_BYTES} bytes`);
    case 'incomplete':
      return quarantineProblem(
        'CG_ERR_QUARANTINE_INCOMPLETE',
        `no end marker: the last line must be \`${END_FIELD}: true\` (the file may be half-written; write it atomically, see docs/quarantine.md)`,
      );
    case 'invalid':
      return parseProblem(failure.lines);
  }
}

function parseProblem(lines: readonly string[]): QuarantineProblem {
  return quarantineProblem('CG_ERR_QUARANTINE_PARSE', lines.join('; '));
}
