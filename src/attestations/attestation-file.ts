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
  resourceUri: z.string().optional(),
  createTime: z.string().optional(),
  updateTime: z.string().optional(),
  attestation: attestationSchema,
});

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
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new AttestationError('CG_ERR_ATTESTATION_FILE_INVALID', 'not JSON');
  }
  const isOccurrence = typeof raw === 'object' && raw !== null && 'attestation' in raw;
  const parsed = isOccurrence ? occurrenceSchema.safeParse(raw) : attestationSchema.safeParse(raw);
  if (!parsed.success) {
    throw new AttestationError('CG_ERR_ATTESTATION_FILE_INVALID', 'not an attestation file');
  }
  const att = 'attestation' in parsed.data ? parsed.data.attestation : parsed.data;
  return Object.freeze({
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
