import { z } from 'zod';
import type { AttestationRecord } from '../verify/attestation.js';
import { AttestationError } from './errors.js';

/** Largest attestation file read. */
export const MAX_ATTESTATION_FILE_BYTES = 256 * 1024;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const base64 = z.string().max(MAX_ATTESTATION_FILE_BYTES).regex(BASE64);

const attestationSchema = z.strictObject({
  serializedPayload: base64.min(1),
  signatures: z
    .array(z.strictObject({ publicKeyId: z.string().min(1).max(1024).optional(), signature: base64.min(1) }))
    .min(1)
    .max(16),
});

/** A Container Analysis occurrence as `gcloud ... attestations list --format=json` prints it. */
const occurrenceSchema = z.strictObject({
  name: z.string().optional(),
  noteName: z.string().optional(),
  kind: z.literal('ATTESTATION').optional(),
  resourceUri: z.string().max(4096).optional(),
  remediation: z.string().optional(),
  createTime: z.string().optional(),
  updateTime: z.string().optional(),
  attestation: attestationSchema,
});

/** Most occurrences read from one gcloud export (a JSON array). */
export const MAX_EXPORT_OCCURRENCES = 4096;

/** One attestation of a file and, for an occurrence, the digest its `resourceUri` names. */
export interface ParsedAttestation {
  readonly record: AttestationRecord;
  /** `sha256:<hex>` from the occurrence's `resourceUri` (`[https://]NAME@sha256:<hex>`), if any. */
  readonly digest: string | undefined;
}

const RESOURCE_DIGEST = /@(sha256:[0-9a-f]{64})$/;

/** The JSON form of one attestation file (see docs/attestations.md). */
export interface AttestationFile {
  readonly serializedPayload: string;
  readonly signatures: readonly { readonly publicKeyId?: string; readonly signature: string }[];
}

/**
 * Parses one attestation file: `{serializedPayload, signatures: [{publicKeyId?, signature}]}` (base64
 * fields, Binary Authorization's attestation shape) or a whole occurrence with it under `attestation`.
 * Returns an AttestationRecord with the decoded payload bytes. Throws AttestationError
 * `CG_ERR_ATTESTATION_FILE_INVALID` for anything else (strict: unknown fields fail).
 */
export function parseAttestationFile(text: string, source?: string): AttestationRecord {
  if (text.length > MAX_ATTESTATION_FILE_BYTES) {
    throw new AttestationError('CG_ERR_ATTESTATION_FILE_INVALID', 'file too large');
  }
  return parseOne(parseJsonText(text), source).record;
}

/**
 * Parses an attestation document: one attestation, one occurrence, or the JSON array of occurrences that
 * `gcloud container binauthz attestations list --format=json` prints (at most MAX_EXPORT_OCCURRENCES; every
 * element must be valid). The caller bounds the text's size. Throws AttestationError
 * `CG_ERR_ATTESTATION_FILE_INVALID`.
 */
export function parseAttestationDocument(text: string, source?: string): ParsedAttestation[] {
  const raw = parseJsonText(text);
  if (!Array.isArray(raw)) return [parseOne(raw, source)];
  if (raw.length > MAX_EXPORT_OCCURRENCES) {
    throw new AttestationError('CG_ERR_ATTESTATION_FILE_INVALID', 'too many occurrences');
  }
  return raw.map((element: unknown, i) => {
    if (typeof element !== 'object' || element === null || !('attestation' in element)) {
      throw new AttestationError('CG_ERR_ATTESTATION_FILE_INVALID', `element ${i} is not an occurrence`);
    }
    return parseOne(element, source === undefined ? undefined : `${source}[${i}]`);
  });
}

function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new AttestationError('CG_ERR_ATTESTATION_FILE_INVALID', 'not JSON');
  }
}

function parseOne(raw: unknown, source: string | undefined): ParsedAttestation {
  const isOccurrence = typeof raw === 'object' && raw !== null && 'attestation' in raw;
  const parsed = isOccurrence ? occurrenceSchema.safeParse(raw) : attestationSchema.safeParse(raw);
  if (!parsed.success) {
    throw new AttestationError('CG_ERR_ATTESTATION_FILE_INVALID', 'not an attestation file');
  }
  const att = 'attestation' in parsed.data ? parsed.data.attestation : parsed.data;
  const uri = 'attestation' in parsed.data ? parsed.data.resourceUri : undefined;
  const record = Object.freeze({
    payload: new Uint8Array(Buffer.from(att.serializedPayload, 'base64')),
    signatures: Object.freeze(
      att.signatures.map((s) =>
        Object.freeze({
          publicKeyId: s.publicKeyId,
          signature: new Uint8Array(Buffer.from(s.signature, 'base64')),
        }),
      ),
    ),
    source,
  });
  return Object.freeze({ record, digest: uri === undefined ? undefined : RESOURCE_DIGEST.exec(uri)?.[1] });
}

/** Serialises a record to the attestation file format (stable key order, trailing newline). */
export function toAttestationFile(record: {
  readonly payload: Uint8Array;
  readonly signatures: readonly {
    readonly publicKeyId?: string | undefined;
    readonly signature: Uint8Array;
  }[];
}): string {
  const file: AttestationFile = {
    serializedPayload: Buffer.from(record.payload).toString('base64'),
    signatures: record.signatures.map((s) => ({
      ...(s.publicKeyId === undefined ? {} : { publicKeyId: s.publicKeyId }),
      signature: Buffer.from(s.signature).toString('base64'),
    })),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}
