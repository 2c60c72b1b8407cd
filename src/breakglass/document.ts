import { z } from 'zod';
import {
  END_FIELD,
  endMarker,
  parseEndMarkedDocument,
  type EndMarkedFailure,
} from '../documents/end-marked-document.js';
import { oneLine, timestamp } from '../documents/text-fields.js';
import { compileNamePattern, NamePatternError, type CompiledNamePattern } from '../policy/name-pattern.js';
import { isDigest } from '../reference/digest.js';
import { toProblem, type BreakglassProblem } from './problems.js';
import { parseRfc3339 } from '../documents/rfc3339.js';
import { compileBreakglassScope, type CompiledBreakglassScope } from './scope.js';

/** Largest breakglass file honoured, in bytes. */
export const MAX_BREAKGLASS_BYTES = 64 * 1024;
/** Most entries in one scope list. */
export const MAX_SCOPE_ENTRIES = 256;
/** Longest `reason`, in characters. */
export const MAX_REASON_LENGTH = 1024;
/** Longest `ticket` or `createdBy`, in characters. */
export const MAX_LABEL_LENGTH = 256;

/** A parsed, validated breakglass file, independent of the current time. Frozen. */
export interface BreakglassDocument {
  readonly reason: string;
  /** Expiry as milliseconds since the epoch. */
  readonly expiresAtMs: number;
  /** Expiry as an ISO 8601 UTC string (normalised from what was written). */
  readonly expiresAt: string;
  readonly ticket: string | undefined;
  readonly createdBy: string | undefined;
  /** As written (validated RFC 3339); informational only. */
  readonly createdAt: string | undefined;
  readonly scope: CompiledBreakglassScope;
}

const NAMESPACE = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

const list = <T extends z.ZodType>(item: T) =>
  z.array(item).min(1, 'must not be empty (leave it out instead)').max(MAX_SCOPE_ENTRIES);

const scopeSchema = z
  .strictObject({
    all: z.literal(true, { error: 'only `all: true` is accepted' }).optional(),
    namespaces: list(z.string().regex(NAMESPACE, 'not a Kubernetes namespace name')).optional(),
    images: list(z.string().max(512)).optional(),
    digests: list(
      z.string().refine(isDigest, 'not a digest (sha256: and 64 lowercase hex digits)'),
    ).optional(),
  })
  .superRefine((scope, ctx) => {
    const narrow = scope.namespaces ?? scope.images ?? scope.digests;
    if (scope.all && narrow) {
      ctx.addIssue({ code: 'custom', message: '`all: true` cannot be combined with other scope fields' });
    }
    if (!scope.all && !narrow) {
      ctx.addIssue({
        code: 'custom',
        message: 'say what the breakglass covers: `all: true`, or namespaces, images and/or digests',
      });
    }
  });

const documentSchema = z.strictObject({
  reason: oneLine(MAX_REASON_LENGTH),
  expiresAt: timestamp,
  ticket: oneLine(MAX_LABEL_LENGTH).optional(),
  createdBy: oneLine(MAX_LABEL_LENGTH).optional(),
  createdAt: timestamp.optional(),
  scope: scopeSchema,
  [END_FIELD]: endMarker,
});

/** The plain shape of a breakglass file, as the CLI writes it. */
export type BreakglassFileContent = z.input<typeof documentSchema>;

/**
 * Parses and validates the bytes of a breakglass file (YAML or JSON): strict UTF-8, unique keys, no unknown
 * fields, bounded sizes, a mandatory RFC 3339 `expiresAt`, a non-empty scope, valid image patterns and
 * digests, and the end marker `end: true` as the **last** top-level field, so that a file read while it is
 * being written in place (any prefix of a valid file) is never valid: without the marker the problem is
 * `CG_ERR_BREAKGLASS_INCOMPLETE`. Returns the frozen document or one `CG_ERR_BREAKGLASS_TOO_LARGE` /
 * `_INCOMPLETE` / `_PARSE` problem listing every field error. Expiry against the clock is not checked here (see evaluateBreakglass).
 * Pure; never throws; fail closed: no partial document is ever returned.
 */
export function parseBreakglassDocument(
  bytes: Uint8Array,
): { ok: true; document: BreakglassDocument } | { ok: false; problem: BreakglassProblem } {
  const parsed = parseEndMarkedDocument(bytes, { maxBytes: MAX_BREAKGLASS_BYTES, schema: documentSchema });
  if (!parsed.ok) return { ok: false, problem: breakglassProblem(parsed.failure) };
  const value = parsed.value;
  const patterns: CompiledNamePattern[] = [];
  const patternErrors: string[] = [];
  value.scope.images?.forEach((pattern, i) => {
    try {
      patterns.push(compileNamePattern(pattern));
    } catch (err) {
      const why = err instanceof NamePatternError ? err.message : 'not a valid image name pattern';
      patternErrors.push(`scope.images.${i}: ${why}`);
    }
  });
  if (patternErrors.length > 0) return { ok: false, problem: parseProblem(patternErrors) };
  const expiresAtMs = parseRfc3339(value.expiresAt) as number;
  return {
    ok: true,
    document: Object.freeze({
      reason: value.reason,
      expiresAtMs,
      expiresAt: new Date(expiresAtMs).toISOString(),
      ticket: value.ticket,
      createdBy: value.createdBy,
      createdAt: value.createdAt,
      scope: compileBreakglassScope({
        all: value.scope.all,
        namespaces: value.scope.namespaces,
        images: value.scope.images && patterns,
        digests: value.scope.digests,
      }),
    }),
  };
}

function breakglassProblem(failure: EndMarkedFailure): BreakglassProblem {
  switch (failure.kind) {
    case 'too-large':
      return toProblem('CG_ERR_BREAKGLASS_TOO_LARGE', `over ${MAX_BREAKGLASS_BYTES} bytes`);
    case 'incomplete':
      return toProblem(
        'CG_ERR_BREAKGLASS_INCOMPLETE',
        `no end marker: the last line must be \`${END_FIELD}: true\` (the file may be half-written; write it atomically, see docs/breakglass.md)`,
      );
    case 'invalid':
      return parseProblem(failure.lines);
  }
}

function parseProblem(lines: readonly string[]): BreakglassProblem {
  return toProblem('CG_ERR_BREAKGLASS_PARSE', lines.join('; '));
}
