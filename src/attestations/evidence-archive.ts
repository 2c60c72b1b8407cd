import { z } from 'zod';
import { isDigest } from '../reference/digest.js';
import type { AttestationRecord } from '../verify/attestation.js';
import { parseAttestationDocument, toAttestationFile } from './attestation-file.js';
import { AttestationError } from './errors.js';

/**
 * The air-gapped evidence archive (`criguard attestations export` / `import`): one JSON document with, per
 * image, its digest and (for a multi-arch index) the platform manifests it holds, and every attestation
 * found for those digests in the attestation file format (cosign signatures as simple-signing payloads,
 * Sigstore bundles as their DSSE pre-authentication encoding), keyed by digest.
 */

export const EVIDENCE_ARCHIVE_KIND = 'CriguardEvidenceArchive';
/** Largest archive read. */
export const MAX_ARCHIVE_BYTES = 64 * 1024 * 1024;
const MAX_ATTESTATIONS = 16_384;

const platformSchema = z.strictObject({
  digest: z.string().refine(isDigest, 'not a digest'),
  os: z.string().max(64),
  architecture: z.string().max(64),
  variant: z.string().max(64).optional(),
});

const archiveSchema = z.strictObject({
  kind: z.literal(EVIDENCE_ARCHIVE_KIND),
  version: z.literal(1),
  created: z.string().max(64).optional(),
  images: z
    .array(
      z.strictObject({
        reference: z.string().max(4096),
        name: z.string().max(4096),
        digest: z.string().refine(isDigest, 'not a digest'),
        platforms: z.array(platformSchema).max(256),
      }),
    )
    .max(4096),
  attestations: z
    .array(z.strictObject({ digest: z.string().refine(isDigest, 'not a digest'), attestation: z.unknown() }))
    .max(MAX_ATTESTATIONS),
});

export type ArchivedImage = z.infer<typeof archiveSchema>['images'][number];

/** A parsed archive: images, and the attestation records per digest. */
export interface EvidenceArchive {
  readonly images: readonly ArchivedImage[];
  readonly attestations: readonly { readonly digest: string; readonly record: AttestationRecord }[];
}

/** Serialises an archive (stable order, trailing newline). */
export function serializeEvidenceArchive(archive: EvidenceArchive, created: Date): string {
  return `${JSON.stringify(
    {
      kind: EVIDENCE_ARCHIVE_KIND,
      version: 1,
      created: created.toISOString(),
      images: archive.images,
      attestations: archive.attestations.map((a) => ({
        digest: a.digest,
        attestation: JSON.parse(toAttestationFile(a.record)) as unknown,
      })),
    },
    null,
    1,
  )}\n`;
}

/**
 * Parses and validates a whole archive: any invalid part rejects all of it (AttestationError
 * `CG_ERR_ATTESTATION_FILE_INVALID`, with where), so a bad archive imports nothing.
 */
export function parseEvidenceArchive(text: string): EvidenceArchive {
  if (text.length > MAX_ARCHIVE_BYTES) {
    throw new AttestationError('CG_ERR_ATTESTATION_FILE_INVALID', 'archive over 64 MiB');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new AttestationError('CG_ERR_ATTESTATION_FILE_INVALID', 'archive is not JSON');
  }
  const parsed = archiveSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new AttestationError(
      'CG_ERR_ATTESTATION_FILE_INVALID',
      `not an evidence archive (${first?.path.join('.') ?? ''}: ${first?.message ?? 'invalid'})`,
    );
  }
  const attestations = parsed.data.attestations.map((a, i) => {
    const [one] = parseAttestationDocument(JSON.stringify(a.attestation), `attestations[${i}]`);
    if (one === undefined || Array.isArray(a.attestation)) {
      throw new AttestationError(
        'CG_ERR_ATTESTATION_FILE_INVALID',
        `attestations[${i}]: not one attestation`,
      );
    }
    return Object.freeze({ digest: a.digest, record: one.record });
  });
  return Object.freeze({ images: parsed.data.images, attestations });
}
