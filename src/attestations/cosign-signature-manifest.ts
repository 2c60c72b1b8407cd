import { z } from 'zod';
import { isDigest } from '../reference/digest.js';
import { parseDigest } from '../reference/digest.js';

/** One layer of a cosign legacy signature manifest, as read (unknown fields ignored). */
const layerSchema = z.object({
  mediaType: z.string().max(256),
  digest: z.string().refine(isDigest),
  size: z.number().int().nonnegative(),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** An OCI image manifest as cosign writes one for `sha256-<hex>.sig`. */
export const signatureManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: z.object({
    mediaType: z.string(),
    digest: z.string().refine(isDigest),
    size: z.number().int().nonnegative(),
  }),
  layers: z.array(layerSchema),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** A parsed cosign signature manifest. */
export type SignatureManifest = z.infer<typeof signatureManifestSchema>;
/** One layer of it. */
export type SignatureLayer = z.infer<typeof layerSchema>;

/** The cosign legacy signature tag of a digest: `sha256:<hex>` → `sha256-<hex>.sig`. */
export function cosignSignatureTag(digest: string): string {
  const d = parseDigest(digest);
  return `${d.algorithm}-${d.hex}.sig`;
}

/** The cosign 3 referrers fallback tag of a digest: `sha256:<hex>` → `sha256-<hex>`. */
export function cosignReferrersTag(digest: string): string {
  const d = parseDigest(digest);
  return `${d.algorithm}-${d.hex}`;
}

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes strict, padded base64 of at most `maxBytes` decoded bytes; undefined when invalid or empty. */
export function decodeStrictBase64(text: string, maxBytes: number): Uint8Array | undefined {
  if (text.length === 0 || text.length > Math.ceil(maxBytes / 3) * 4 || !STRICT_BASE64.test(text))
    return undefined;
  return new Uint8Array(Buffer.from(text, 'base64'));
}
