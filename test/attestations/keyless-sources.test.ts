import test from 'ava';
import {
  COSIGN_BUNDLE_ANNOTATION,
  COSIGN_CERTIFICATE_ANNOTATION,
  COSIGN_CHAIN_ANNOTATION,
} from '../../src/attestations/cosign-keyless-annotations.js';
import { createRegistrySource } from '../../src/attestations/registry-source.js';
import {
  COSIGN_SIGNATURE_ANNOTATION,
  COSIGN_SIMPLE_SIGNING,
  OCI_CONFIG,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_MANIFEST,
} from '../../src/registry/media-types.js';
import { createRegistryClient } from '../../src/registry/registry-client.js';
import { compileIdentity } from '../../src/verify/keyless/identity.js';
import { parseTrustedRoot } from '../../src/verify/keyless/trusted-root.js';
import type { KeylessTrust } from '../../src/verify/keyless/trusted-root.js';
import { DEFAULT_KEYLESS_THRESHOLDS } from '../../src/verify/keyless/verify-bundle.js';
import { createSimpleSigningPayload } from '../../src/verify/simple-signing.js';
import { verifyAttestors } from '../../src/verify/verify-attestations.js';
import type { TrustedAttestor } from '../../src/verify/verify-attestations.js';
import { pushBlob, pushImage, pushManifest } from '../helpers/images.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { createSigstoreDeployment, GITHUB_ISSUER } from '../helpers/sigstore-deployment.js';
import type { SigstoreDeployment } from '../helpers/sigstore-deployment.js';

const WORKFLOW = 'https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1';
const signer = { subject: WORKFLOW, issuer: GITHUB_ISSUER };

let registry: Registry | undefined;
let dep: SigstoreDeployment;
let trust: KeylessTrust;
test.before(async () => {
  registry = await startRegistry();
  dep = await createSigstoreDeployment();
  trust = parseTrustedRoot(dep.trustedRoot, 'test-root');
});
test.after.always(async () => {
  await registry?.dispose();
});
const reg = (): Registry => {
  if (!registry) throw new Error('registry not started');
  return registry;
};
const client = createRegistryClient({ timeoutMs: 20_000 });
test.after.always(() => client.close());

function ci(subject = WORKFLOW): TrustedAttestor {
  return {
    name: 'ci',
    keys: [],
    threshold: 1,
    keyless: {
      trust,
      identities: [compileIdentity({ issuer: GITHUB_ISSUER, subject })],
      thresholds: DEFAULT_KEYLESS_THRESHOLDS,
    },
  };
}

const pem = (der: string): string =>
  `-----BEGIN CERTIFICATE-----\n${der.replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;

/** The annotations cosign writes for a keyless `.sig` layer, from a message-signature bundle. */
function cosignAnnotations(bundle: Record<string, unknown>): Record<string, string> {
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

async function pushSig(repo: string, digest: string, payload: Buffer, annotations: Record<string, string>) {
  const layerDigest = await pushBlob(reg(), repo, payload);
  const configDigest = await pushBlob(reg(), repo, Buffer.from('{}'));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: 2 },
      layers: [{ mediaType: COSIGN_SIMPLE_SIGNING, digest: layerDigest, size: payload.length, annotations }],
    }),
  );
  await pushManifest(reg(), repo, `sha256-${digest.slice(7)}.sig`, manifest, OCI_MANIFEST);
}

test('keyless .sig layer (certificate, chain, Rekor SET annotations) satisfies a keyless attestor', async (t) => {
  const img = await pushImage(reg(), { name: 'kl/legacy', variant: 'legacy' });
  const name = `${img.host}/${img.name}`;
  const payload = Buffer.from(createSimpleSigningPayload(name, img.digest));
  await pushSig(img.name, img.digest, payload, cosignAnnotations(await dep.signMessage(payload, signer)));
  const records = await createRegistrySource({ client, sigstoreBundles: false }).fetch(name, img.digest);
  t.is(records.length, 1);
  t.truthy(records[0]!.sigstoreBundle);
  const identity = { name, digest: img.digest };
  const [ok] = await verifyAttestors([ci()], identity, records, { bindDockerReference: true });
  t.like(ok, { satisfied: true, reason: 'VERIFIED' });
  const [other] = await verifyAttestors([ci(`${WORKFLOW}-other`)], identity, records, {
    bindDockerReference: false,
  });
  t.like(other, { satisfied: false, reason: 'IDENTITY_MISMATCH' });
});

test('keyless_sig_without_set_fail: a .sig layer whose Rekor annotation is missing is denied', async (t) => {
  const img = await pushImage(reg(), { name: 'kl/noset', variant: 'noset' });
  const name = `${img.host}/${img.name}`;
  const payload = Buffer.from(createSimpleSigningPayload(name, img.digest));
  const annotations = cosignAnnotations(await dep.signMessage(payload, signer));
  delete annotations[COSIGN_BUNDLE_ANNOTATION];
  await pushSig(img.name, img.digest, payload, annotations);
  const records = await createRegistrySource({ client, sigstoreBundles: false }).fetch(name, img.digest);
  const [outcome] = await verifyAttestors([ci()], { name, digest: img.digest }, records, {
    bindDockerReference: false,
  });
  t.false(outcome?.satisfied);
  t.not(outcome?.reason, 'NO_ATTESTATION');
});

for (const mediaType of [
  'application/vnd.dev.sigstore.bundle.v0.3+json',
  'application/vnd.dev.sigstore.bundle+json;version=0.2',
  'application/vnd.dev.sigstore.bundle+json;version=0.1',
]) {
  test(`keyless Sigstore bundle (${mediaType}) through the sha256-<hex> tag satisfies a keyless attestor`, async (t) => {
    const variant = mediaType.replace(/[^0-9]/g, '');
    const img = await pushImage(reg(), { name: `kl/bundle${variant}`, variant: `b${variant}` });
    const name = `${img.host}/${img.name}`;
    const json: Record<string, unknown> = { ...(await dep.signDsse(img.digest, signer)), mediaType };
    if (mediaType.endsWith('0.1')) {
      const vm = json['verificationMaterial'] as { certificate?: unknown; x509CertificateChain?: unknown };
      vm.x509CertificateChain = { certificates: [vm.certificate] };
      delete vm.certificate;
    }
    const bundle = Buffer.from(JSON.stringify(json));
    const bundleDigest = await pushBlob(reg(), img.name, bundle);
    const emptyDigest = await pushBlob(reg(), img.name, Buffer.from('{}'));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: mediaType,
        config: { mediaType: OCI_EMPTY, digest: emptyDigest, size: 2 },
        layers: [{ mediaType, digest: bundleDigest, size: bundle.length }],
        subject: { mediaType: OCI_MANIFEST, digest: img.digest, size: img.manifest.length },
      }),
    );
    const manifestDigest = await pushManifest(reg(), img.name, `bundle-${variant}`, manifest, OCI_MANIFEST);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          { mediaType: OCI_MANIFEST, digest: manifestDigest, size: manifest.length, artifactType: mediaType },
        ],
      }),
    );
    await pushManifest(reg(), img.name, `sha256-${img.digest.slice(7)}`, index, OCI_INDEX);
    const records = await createRegistrySource({ client, cosignLegacy: false }).fetch(name, img.digest);
    t.is(records.length, 1);
    const identity = { name, digest: img.digest };
    const [ok] = await verifyAttestors([ci()], identity, records, { bindDockerReference: false });
    t.like(ok, { satisfied: true });
    // The same bundle does not vouch for another image.
    const [other] = await verifyAttestors([ci()], { name, digest: `sha256:${'0'.repeat(64)}` }, records, {
      bindDockerReference: false,
    });
    t.like(other, { satisfied: false, reason: 'DIGEST_MISMATCH' });
  });
}
