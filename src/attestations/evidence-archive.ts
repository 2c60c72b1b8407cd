import { z } from 'zod';
import { isDigest } from '../reference/digest.js';
import type { AttestationRecord } from '../verify/attestation.js';
import { parseAttestationDocument, toAttestationFile } from './attestation-file.js';
import { AttestationError } from './errors.js';
import { MAX_STORED_MANIFEST_BYTES, matchesDigest } from './manifest-store.js';

/**
 * The air-gapped evidence archive (`criguard attestations export` / `import`): one JSON document with, per
 * image, its digest and (for a multi-arch index) the platform manifests it holds, and every attestation
 * found for those digests in the attestation file format (cosign signatures as simple-signing payloads,
 * Sigstore bundles as their DSSE pre-authentication encoding), keyed by digest; and the exact bytes of each
 * image's manifest (for an index: the index and every platform manifest it lists), so a node that never
 * reaches a registry can find which manifest of an index it runs. Every manifest's bytes must hash to its
 * digest, and an image's platforms must be the ones its index lists, or the whole archive is refused.
 */

export const EVIDENCE_ARCHIVE_KIND = 'CriguardEvidenceArchive';
/** Largest archive read. */
export const MAX_ARCHIVE_BYTES = 64 * 1024 * 1024;
const MAX_ATTESTATIONS = 16_384;
const MAX_MANIFESTS = 8192;

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
  manifests: z
    .array(
      z.strictObject({
        digest: z.string().refine(isDigest, 'not a digest'),
        // base64 of the exact bytes (4/3 of the largest manifest, rounded up)
        bytes: z
          .string()
          .max(Math.ceil(MAX_STORED_MANIFEST_BYTES / 3) * 4)
          .regex(/^[A-Za-z0-9+/]*={0,2}$/),
      }),
    )
    .max(MAX_MANIFESTS)
    .optional(),
});

export type ArchivedImage = z.infer<typeof archiveSchema>['images'][number];

/** A parsed archive: images, and the attestation records per digest. */
export interface EvidenceArchive {
  readonly images: readonly ArchivedImage[];
  readonly attestations: readonly { readonly digest: string; readonly record: AttestationRecord }[];
  /** Manifest bytes by digest (each hash-checked when parsed). */
  readonly manifests: readonly { readonly digest: string; readonly bytes: Uint8Array }[];
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
      manifests: archive.manifests.map((m) => ({
        digest: m.digest,
        bytes: Buffer.from(m.bytes).toString('base64'),
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
  const manifests = (parsed.data.manifests ?? []).map((m, i) => {
    const bytes = new Uint8Array(Buffer.from(m.bytes, 'base64'));
    if (!matchesDigest(bytes, m.digest)) {
      throw new AttestationError(
        'CG_ERR_ATTESTATION_FILE_INVALID',
        `manifests[${i}]: the bytes do not hash to ${m.digest}`,
      );
    }
    return Object.freeze({ digest: m.digest, bytes });
  });
  checkPlatforms(parsed.data.images, manifests);
  return Object.freeze({ images: parsed.data.images, attestations, manifests });
}

/**
 * Each image whose manifest is in the archive lists exactly the platform entries of that manifest (an index)
 * or none (a single manifest): the platforms shown to operators are the ones a node will find.
 */
function checkPlatforms(
  images: readonly ArchivedImage[],
  manifests: readonly { digest: string; bytes: Uint8Array }[],
): void {
  const byDigest = new Map(manifests.map((m) => [m.digest, m.bytes]));
  images.forEach((image, i) => {
    const bytes = byDigest.get(image.digest);
    if (bytes === undefined) return;
    let doc: unknown;
    try {
      doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
    } catch {
      throw new AttestationError('CG_ERR_ATTESTATION_FILE_INVALID', `images[${i}]: its manifest is not JSON`);
    }
    const listed = platformsOfManifest(doc);
    const same =
      listed.length === image.platforms.length &&
      listed.every((p, j) => JSON.stringify(p) === JSON.stringify(image.platforms[j]));
    if (!same) {
      throw new AttestationError(
        'CG_ERR_ATTESTATION_FILE_INVALID',
        `images[${i}]: platforms differ from the ones its index lists`,
      );
    }
    for (const p of image.platforms) {
      if (!byDigest.has(p.digest)) {
        throw new AttestationError(
          'CG_ERR_ATTESTATION_FILE_INVALID',
          `images[${i}]: the manifest of platform ${p.os}/${p.architecture} is missing`,
        );
      }
    }
  });
}

/**
 * The platform entries of an OCI index or Docker manifest list (entries with a digest, an os and an
 * architecture, at most 256); [] for anything else.
 */
export function platformsOfManifest(doc: unknown): ArchivedImage['platforms'] {
  const manifests = (doc as { manifests?: unknown } | null)?.manifests;
  if (!Array.isArray(manifests)) return [];
  const out: ArchivedImage['platforms'][number][] = [];
  for (const m of manifests.slice(0, 256)) {
    const entry = m as {
      digest?: unknown;
      platform?: { os?: unknown; architecture?: unknown; variant?: unknown };
    };
    const p = entry.platform;
    if (
      typeof entry.digest !== 'string' ||
      !isDigest(entry.digest) ||
      typeof p?.os !== 'string' ||
      typeof p.architecture !== 'string' ||
      p.os.length > 64 ||
      p.architecture.length > 64
    )
      continue;
    out.push({
      digest: entry.digest,
      os: p.os,
      architecture: p.architecture,
      ...(typeof p.variant === 'string' && p.variant.length <= 64 ? { variant: p.variant } : {}),
    });
  }
  return out;
}
