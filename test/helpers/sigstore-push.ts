/**
 * Puts keyless signatures where cosign does, by hand (no criguard code): a `sha256-<hex>.sig` manifest whose
 * layer carries the certificate, chain and Rekor annotations, or a Sigstore bundle referrer listed by the
 * `sha256-<hex>` fallback tag.
 */
import {
  COSIGN_BUNDLE_ANNOTATION,
  COSIGN_CERTIFICATE_ANNOTATION,
  COSIGN_CHAIN_ANNOTATION,
} from '../../src/attestations/cosign-keyless-annotations.js';
import {
  COSIGN_SIGNATURE_ANNOTATION,
  COSIGN_SIMPLE_SIGNING,
  OCI_CONFIG,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_MANIFEST,
} from '../../src/registry/media-types.js';
import { pushBlob, pushManifest } from './images.js';
import type { SigstoreDeployment } from './sigstore-deployment.js';

type RegistryTarget = Parameters<typeof pushBlob>[0];

const pem = (der: string): string =>
  `-----BEGIN CERTIFICATE-----\n${der.replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;

/** The annotations cosign writes for a keyless `.sig` layer, from a message-signature bundle. */
export function cosignAnnotations(
  dep: SigstoreDeployment,
  bundle: Record<string, unknown>,
): Record<string, string> {
  const vm = bundle['verificationMaterial'] as {
    certificate: { rawBytes: string };
    tlogEntries: {
      logIndex: string;
      logId: { keyId: string };
      integratedTime: string;
      inclusionPromise: { signedEntryTimestamp: string };
      canonicalizedBody: string;
    }[];
  };
  const entry = vm.tlogEntries[0]!;
  const sig = (bundle['messageSignature'] as { signature: string }).signature;
  return {
    [COSIGN_SIGNATURE_ANNOTATION]: sig,
    [COSIGN_CERTIFICATE_ANNOTATION]: pem(vm.certificate.rawBytes),
    [COSIGN_CHAIN_ANNOTATION]: pem(Buffer.from(dep.authority.ca.rootCertificate).toString('base64')),
    [COSIGN_BUNDLE_ANNOTATION]: JSON.stringify({
      SignedEntryTimestamp: entry.inclusionPromise.signedEntryTimestamp,
      Payload: {
        body: entry.canonicalizedBody,
        integratedTime: Number(entry.integratedTime),
        logIndex: Number(entry.logIndex),
        logID: Buffer.from(entry.logId.keyId, 'base64').toString('hex'),
      },
    }),
  };
}

/** Pushes a one-layer cosign `.sig` manifest for `digest` with `payload` and `annotations`. */
export async function pushKeylessSig(
  registry: RegistryTarget,
  repo: string,
  digest: string,
  payload: Buffer,
  annotations: Record<string, string>,
): Promise<void> {
  const layerDigest = await pushBlob(registry, repo, payload);
  const configDigest = await pushBlob(registry, repo, Buffer.from('{}'));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: 2 },
      layers: [{ mediaType: COSIGN_SIMPLE_SIGNING, digest: layerDigest, size: payload.length, annotations }],
    }),
  );
  await pushManifest(registry, repo, `sha256-${digest.slice(7)}.sig`, manifest, OCI_MANIFEST);
}

/**
 * Pushes `bundle` as a referrer of `subject` (a manifest unless its media type says otherwise, e.g. an
 * index) and lists it under the `sha256-<hex>` fallback tag.
 */
export async function pushBundleReferrer(
  registry: RegistryTarget,
  repo: string,
  subject: { digest: string; size: number; mediaType?: string },
  bundle: Record<string, unknown>,
  mediaType = 'application/vnd.dev.sigstore.bundle.v0.3+json',
): Promise<void> {
  const bytes = Buffer.from(JSON.stringify(bundle));
  const bundleDigest = await pushBlob(registry, repo, bytes);
  const emptyDigest = await pushBlob(registry, repo, Buffer.from('{}'));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: mediaType,
      config: { mediaType: OCI_EMPTY, digest: emptyDigest, size: 2 },
      layers: [{ mediaType, digest: bundleDigest, size: bytes.length }],
      subject: { mediaType: subject.mediaType ?? OCI_MANIFEST, digest: subject.digest, size: subject.size },
    }),
  );
  const tag = `bundle-${bundleDigest.slice(7, 19)}`;
  const manifestDigest = await pushManifest(registry, repo, tag, manifest, OCI_MANIFEST);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: manifestDigest, size: manifest.length, artifactType: mediaType },
      ],
    }),
  );
  await pushManifest(registry, repo, `sha256-${subject.digest.slice(7)}`, index, OCI_INDEX);
}
