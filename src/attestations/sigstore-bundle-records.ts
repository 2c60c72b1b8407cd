import { bundleFromJSON, isBundleWithDsseEnvelope } from '@sigstore/bundle';
import { z } from 'zod';
import { isDigest } from '../reference/digest.js';
import { RegistryError, hasRegistryCode } from '../registry/errors.js';
import { SIGSTORE_BUNDLE_V03 } from '../registry/media-types.js';
import type { RegistryClient } from '../registry/registry-client.js';
import type { OciDescriptor } from '../registry/registry-reads.js';
import { parseJson } from '../registry/registry-responses.js';
import type { RegistryCallOptions } from '../registry/registry-targets.js';
import type { AttestationRecord } from '../verify/attestation.js';
import { encodeDssePae } from '../verify/dsse.js';
import { cosignReferrersTag } from './cosign-signature-manifest.js';
import { AttestationError } from './errors.js';

/** Media (and artifact) types of Sigstore bundles v0.1 to v0.3. */
export const SIGSTORE_BUNDLE_TYPES: readonly string[] = Object.freeze([
  SIGSTORE_BUNDLE_V03,
  'application/vnd.dev.sigstore.bundle+json;version=0.3',
  'application/vnd.dev.sigstore.bundle+json;version=0.2',
  'application/vnd.dev.sigstore.bundle+json;version=0.1',
]);

function isBundleType(type: string | undefined): boolean {
  return type !== undefined && SIGSTORE_BUNDLE_TYPES.includes(type);
}

/** Bounds used by fetchSigstoreBundleRecords. */
export interface BundleLimits {
  readonly maxBundles: number;
  readonly maxBundleBytes: number;
  readonly maxSignatureBytes: number;
}

const descriptor = z.object({
  mediaType: z.string(),
  digest: z.string().refine(isDigest),
  size: z.number().int().nonnegative(),
  artifactType: z.string().optional(),
});
const indexSchema = z.object({ manifests: z.array(descriptor) });
const manifestSchema = z.object({ artifactType: z.string().optional(), layers: z.array(descriptor) });

/**
 * cosign 3 signatures of `digest`: referrers with artifact type Sigstore bundle v0.3 (the referrers API,
 * else the `sha256-<hex>` tag's OCI index; neither → []). Each referrer manifest's bundle layer is
 * downloaded (digest-verified, bounded), parsed with @sigstore/bundle; DSSE bundles become one record per
 * signature whose payload is the PAE bytes the signature covers (verify/dsse.ts decodes and checks the
 * in-toto subject) and carries the bundle itself for keyless attestors (verify/keyless). Bundles v0.1 to
 * v0.3 are read (v0.1/v0.2 only through the fallback tag). Malformed bundles are skipped. Throws RegistryError from the client or AttestationError `CG_ERR_ATTESTATION_LIMIT`.
 */
export async function fetchSigstoreBundleRecords(
  client: RegistryClient,
  name: string,
  digest: string,
  call: RegistryCallOptions,
  limits: BundleLimits,
  skipped: (where: string, reason: string) => void,
): Promise<AttestationRecord[]> {
  // The referrers API filters by one artifact type; bundles v0.1/v0.2 are found through the fallback tag.
  let referrers: readonly OciDescriptor[] | undefined = await client.referrers(
    name,
    digest,
    SIGSTORE_BUNDLE_V03,
    call,
  );
  if (referrers === undefined) {
    const tag = cosignReferrersTag(digest);
    try {
      const index = indexSchema.safeParse(parseJson((await client.getManifest(name, tag, call)).bytes));
      if (!index.success)
        throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', `${name}:${tag}: not an OCI index`);
      if (index.data.manifests.length > limits.maxBundles * 4) {
        throw new AttestationError(
          'CG_ERR_ATTESTATION_LIMIT',
          `${name}:${tag}: ${index.data.manifests.length} referrers`,
        );
      }
      referrers = index.data.manifests.filter((m) => isBundleType(m.artifactType));
    } catch (err) {
      if (hasRegistryCode(err, 'CG_ERR_REGISTRY_NOT_FOUND')) return [];
      throw err;
    }
  }
  if (referrers.length > limits.maxBundles) {
    throw new AttestationError(
      'CG_ERR_ATTESTATION_LIMIT',
      `${name}@${digest}: ${referrers.length} bundles (limit ${limits.maxBundles})`,
    );
  }
  const records: AttestationRecord[] = [];
  for (const ref of referrers) {
    const where = `${name}@${ref.digest}`;
    const manifest = manifestSchema.safeParse(
      parseJson((await client.getManifest(name, ref.digest, call)).bytes),
    );
    const layer = manifest.success ? manifest.data.layers.find((l) => isBundleType(l.mediaType)) : undefined;
    if (layer === undefined) {
      skipped(where, 'no-bundle-layer');
      continue;
    }
    if (layer.size > limits.maxBundleBytes) {
      skipped(where, 'bundle-too-large');
      continue;
    }
    const blob = await client.getBlob(name, layer.digest, { ...call, maxBytes: limits.maxBundleBytes });
    let bundle;
    try {
      bundle = bundleFromJSON(parseJson(blob));
    } catch {
      skipped(where, 'bundle-invalid');
      continue;
    }
    if (!isBundleWithDsseEnvelope(bundle)) {
      skipped(where, 'not-dsse');
      continue;
    }
    const envelope = bundle.content.dsseEnvelope;
    const pae = encodeDssePae(envelope.payloadType, envelope.payload);
    const signatures = envelope.signatures
      .filter((s) => s.sig.length > 0 && s.sig.length <= limits.maxSignatureBytes)
      .slice(0, 16)
      .map((s) => Object.freeze({ signature: new Uint8Array(s.sig) }));
    if (signatures.length === 0) {
      skipped(where, 'no-signature');
      continue;
    }
    records.push(
      Object.freeze({
        payload: pae,
        signatures: Object.freeze(signatures),
        source: where,
        sigstoreBundle: bundle,
      }),
    );
  }
  return records;
}
