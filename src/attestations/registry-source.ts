import { normaliseRepositoryName } from '../reference/image-reference.js';
import { parseDigest } from '../reference/digest.js';
import type { ImageIdentity } from '../reference/image-reference.js';
import type { RegistryCredentials } from '../registry/credentials.js';
import { RegistryError, hasRegistryCode } from '../registry/errors.js';
import { COSIGN_SIGNATURE_ANNOTATION, COSIGN_SIMPLE_SIGNING } from '../registry/media-types.js';
import type { RegistryClient } from '../registry/registry-client.js';
import { parseJson } from '../registry/registry-responses.js';
import type { RegistryCallOptions } from '../registry/registry-targets.js';
import type { AttestationRecord } from '../verify/attestation.js';
import type { AttestationSource } from './attestation-source.js';
import {
  cosignSignatureTag,
  decodeStrictBase64,
  signatureManifestSchema,
} from './cosign-signature-manifest.js';
import { bundleFromCosignAnnotations } from './cosign-keyless-annotations.js';
import { AttestationError } from './errors.js';
import { fetchSigstoreBundleRecords } from './sigstore-bundle-records.js';

/** Bounds of the registry source. */
export interface RegistrySourceLimits {
  /** Signature layers accepted in one `.sig` manifest (default 64); more → CG_ERR_ATTESTATION_LIMIT. */
  readonly maxSignatureLayers: number;
  /** Largest signed payload blob downloaded (default 256 KiB); larger layers are skipped. */
  readonly maxPayloadBytes: number;
  /** Largest decoded signature (default 4 KiB); larger ones are skipped. */
  readonly maxSignatureBytes: number;
  /** Sigstore bundles looked at per digest (default 16); more → CG_ERR_ATTESTATION_LIMIT. */
  readonly maxBundles: number;
  /** Largest Sigstore bundle blob (default 1 MiB); larger ones are skipped. */
  readonly maxBundleBytes: number;
  /** Time for one fetch, all formats together (default 60 s). */
  readonly timeoutMs: number;
}

/** Options of createRegistrySource. */
export interface RegistrySourceOptions {
  readonly client: RegistryClient;
  readonly limits?: Partial<RegistrySourceLimits>;
  /** Read cosign legacy `.sig` manifests (default true). */
  readonly cosignLegacy?: boolean;
  /** Read cosign 3 Sigstore bundles (referrers API, else the `sha256-<hex>` tag; default true). */
  readonly sigstoreBundles?: boolean;
  /** Told about every signature that was skipped (wrong media type, bad annotation, too large). */
  readonly onSkipped?: (where: string, reason: string) => void;
  /**
   * Credentials for fetches the kubelet sent none with (the node's own, for CreateContainer and
   * re-validation); asked only then, once per fetch, just before the registry is. Default: anonymous.
   */
  readonly fallbackCredentials?: (
    imageName: string,
    signal: AbortSignal,
  ) => Promise<RegistryCredentials | undefined>;
  /** The source's `overlap` flag (see AttestationSource); default false. */
  readonly overlap?: boolean;
}

/**
 * An AttestationSource over a registry. `fetch` uses the credentials it is given (else those of
 * `fallbackCredentials`) for the image's registry host only: never elsewhere, never logged.
 */
export interface RegistryAttestationSource extends AttestationSource {
  /**
   * Whether the registry serves the image's manifest by digest to an anonymous request: true when it does
   * (so its anonymous "no signature" for that image is definitive, not a private repository hiding it),
   * false when it answers not found or denied. Rejects with RegistryError when it cannot tell (outage).
   */
  servesImage(imageName: string, digest: string, signal?: AbortSignal): Promise<boolean>;
}

const DEFAULTS: RegistrySourceLimits = {
  maxSignatureLayers: 64,
  maxPayloadBytes: 256 * 1024,
  maxSignatureBytes: 4 * 1024,
  maxBundles: 16,
  maxBundleBytes: 1024 * 1024,
  timeoutMs: 60_000,
};

/**
 * Attestations stored in the image's own repository by cosign: legacy `sha256-<hex>.sig` manifests (one
 * record per simple-signing layer: payload = the digest-verified blob, signature = the base64 annotation,
 * no key id) and cosign 3 Sigstore bundles (one record per DSSE signature, payload = the DSSE PAE bytes;
 * see verify/dsse.ts). A missing tag or referrer means no records. Records are untrusted.
 * Rejects (= "could not decide") with RegistryError (`CG_ERR_REGISTRY_UNAVAILABLE`, `…_DENIED`,
 * `…_DIGEST_MISMATCH`, `…_LIMIT`, `…_PROTOCOL` for a malformed signature manifest) or AttestationError
 * `CG_ERR_ATTESTATION_LIMIT`. Fail closed: no partial results on error.
 */
export function createRegistrySource(options: RegistrySourceOptions): RegistryAttestationSource {
  const limits: RegistrySourceLimits = Object.freeze({ ...DEFAULTS, ...options.limits });
  const skipped = options.onSkipped ?? (() => undefined);

  async function fetch(
    image: ImageIdentity,
    credentials: RegistryCredentials | undefined,
    signal?: AbortSignal,
  ): Promise<AttestationRecord[]> {
    const name = normaliseRepositoryName(image.name);
    const d = parseDigest(image.digest).value;
    const used =
      credentials ??
      (await options.fallbackCredentials?.(image.name, signal ?? new AbortController().signal));
    const timeout = AbortSignal.timeout(limits.timeoutMs);
    const call: RegistryCallOptions = {
      credentials: used,
      signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
    };
    const records: AttestationRecord[] = [];
    if (options.cosignLegacy ?? true)
      records.push(...(await fetchLegacy(options.client, name, d, call, limits, skipped)));
    if (options.sigstoreBundles ?? true) {
      records.push(...(await fetchSigstoreBundleRecords(options.client, name, d, call, limits, skipped)));
    }
    return records;
  }

  return {
    ...(options.overlap === true ? { overlap: true } : {}),
    fetch,
    async servesImage(imageName, digest, signal) {
      const name = normaliseRepositoryName(imageName);
      const d = parseDigest(digest).value;
      const timeout = AbortSignal.timeout(limits.timeoutMs);
      try {
        // A GET, not a HEAD: the bytes are hashed, so only the very image counts as served.
        await options.client.getManifest(name, d, {
          credentials: undefined,
          signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
        });
        return true;
      } catch (err) {
        if (
          hasRegistryCode(err, 'CG_ERR_REGISTRY_NOT_FOUND') ||
          hasRegistryCode(err, 'CG_ERR_REGISTRY_DENIED')
        )
          return false;
        throw err;
      }
    },
  };
}

async function fetchLegacy(
  client: RegistryClient,
  name: string,
  digest: string,
  call: RegistryCallOptions,
  limits: RegistrySourceLimits,
  skipped: (where: string, reason: string) => void,
): Promise<AttestationRecord[]> {
  const tag = cosignSignatureTag(digest);
  const where = `${name}:${tag}`;
  let manifest;
  try {
    manifest = await client.getManifest(name, tag, call);
  } catch (err) {
    if (hasRegistryCode(err, 'CG_ERR_REGISTRY_NOT_FOUND')) return [];
    throw err;
  }
  const parsed = signatureManifestSchema.safeParse(parseJson(manifest.bytes));
  if (!parsed.success)
    throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', `${where}: not an OCI image manifest`);
  const layers = parsed.data.layers;
  if (layers.length > limits.maxSignatureLayers) {
    throw new AttestationError(
      'CG_ERR_ATTESTATION_LIMIT',
      `${where}: ${layers.length} layers (limit ${limits.maxSignatureLayers})`,
    );
  }
  const records: AttestationRecord[] = [];
  for (const [i, layer] of layers.entries()) {
    const at = `${where}#${i}`;
    if (layer.mediaType !== COSIGN_SIMPLE_SIGNING) {
      skipped(at, 'media-type');
      continue;
    }
    const encoded = layer.annotations?.[COSIGN_SIGNATURE_ANNOTATION];
    const signature =
      encoded === undefined ? undefined : decodeStrictBase64(encoded, limits.maxSignatureBytes);
    if (signature === undefined) {
      skipped(at, 'signature-annotation');
      continue;
    }
    if (layer.size > limits.maxPayloadBytes) {
      skipped(at, 'payload-too-large');
      continue;
    }
    const payload = await client.getBlob(name, layer.digest, { ...call, maxBytes: limits.maxPayloadBytes });
    const sigstoreBundle = bundleFromCosignAnnotations(layer.annotations, payload, signature);
    records.push(
      Object.freeze({
        payload,
        signatures: Object.freeze([Object.freeze({ signature })]),
        source: at,
        ...(sigstoreBundle === undefined ? {} : { sigstoreBundle }),
      }),
    );
  }
  return records;
}
