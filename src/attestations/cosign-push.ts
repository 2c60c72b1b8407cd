import { normaliseRepositoryName } from '../reference/image-reference.js';
import { parseDigest } from '../reference/digest.js';
import { RegistryError, hasRegistryCode } from '../registry/errors.js';
import {
  COSIGN_SIGNATURE_ANNOTATION,
  COSIGN_SIMPLE_SIGNING,
  OCI_CONFIG,
  OCI_MANIFEST,
} from '../registry/media-types.js';
import type { RegistryClient } from '../registry/registry-client.js';
import { parseJson } from '../registry/registry-responses.js';
import type { RegistryCallOptions } from '../registry/registry-targets.js';
import { cosignSignatureTag, signatureManifestSchema } from './cosign-signature-manifest.js';
import type { SignatureLayer } from './cosign-signature-manifest.js';
import { AttestationError } from './errors.js';

/** What pushCosignSignature wrote. */
export interface PushedCosignSignature {
  /** `sha256-<hex>.sig`. */
  readonly tag: string;
  /** Digest of the signature manifest now under the tag. */
  readonly manifestDigest: string;
  /** Digest of the payload layer. */
  readonly layerDigest: string;
  /** False when the same payload and signature were already there (nothing pushed). */
  readonly added: boolean;
}

/**
 * Stores a signature in cosign's legacy format (what `criguard sign --push` does): uploads `payload` as a
 * blob and writes `sha256-<hex>.sig` in `image.name`'s repository, appending a layer (media type
 * simple-signing, annotation `dev.cosignproject.cosign/signature` = base64 signature) to an existing
 * manifest. Idempotent for the same payload and signature. Not atomic against concurrent signers (the
 * registry offers no compare-and-swap; the last writer wins). Throws RegistryError (see the client),
 * `CG_ERR_REGISTRY_PROTOCOL` when the existing tag is not a signature manifest, or AttestationError
 * `CG_ERR_ATTESTATION_LIMIT` when it already holds `maxLayers` (default 64) layers.
 */
export async function pushCosignSignature(
  client: RegistryClient,
  image: { readonly name: string; readonly digest: string },
  payload: Uint8Array,
  signature: Uint8Array,
  options: RegistryCallOptions & { readonly maxLayers?: number } = {},
): Promise<PushedCosignSignature> {
  const name = normaliseRepositoryName(image.name);
  const tag = cosignSignatureTag(parseDigest(image.digest).value);
  let layers: SignatureLayer[] = [];
  try {
    const existing = await client.getManifest(name, tag, options);
    const parsed = signatureManifestSchema.safeParse(parseJson(existing.bytes));
    if (!parsed.success)
      throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', `${name}:${tag} is not a signature manifest`);
    layers = parsed.data.layers;
  } catch (err) {
    if (!hasRegistryCode(err, 'CG_ERR_REGISTRY_NOT_FOUND')) throw err;
  }
  const layerDigest = await client.putBlob(name, payload, options);
  const encoded = Buffer.from(signature).toString('base64');
  const same = layers.find(
    (l) => l.digest === layerDigest && l.annotations?.[COSIGN_SIGNATURE_ANNOTATION] === encoded,
  );
  if (same !== undefined) {
    const current = await client.getManifest(name, tag, options);
    return Object.freeze({ tag, manifestDigest: current.digest, layerDigest, added: false });
  }
  const maxLayers = options.maxLayers ?? 64;
  if (layers.length >= maxLayers) {
    throw new AttestationError(
      'CG_ERR_ATTESTATION_LIMIT',
      `${name}:${tag} already holds ${layers.length} signatures`,
    );
  }
  layers = [
    ...layers,
    {
      mediaType: COSIGN_SIMPLE_SIGNING,
      digest: layerDigest,
      size: payload.length,
      annotations: { [COSIGN_SIGNATURE_ANNOTATION]: encoded },
    },
  ];
  // The config lists the layers as diff ids (they are not compressed), as cosign's own config does.
  const config = Buffer.from(
    JSON.stringify({
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history: [{ created: '0001-01-01T00:00:00Z' }],
      os: '',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      config: {},
    }),
  );
  const configDigest = await client.putBlob(name, config, options);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, size: config.length, digest: configDigest },
      layers,
    }),
  );
  const manifestDigest = await client.putManifest(name, tag, manifest, OCI_MANIFEST, options);
  return Object.freeze({ tag, manifestDigest, layerDigest, added: true });
}
