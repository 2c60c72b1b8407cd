import test from 'ava';
import { COSIGN_BUNDLE_ANNOTATION } from '../../src/attestations/cosign-keyless-annotations.js';
import { createRegistrySource } from '../../src/attestations/registry-source.js';
import { createRegistryClient } from '../../src/registry/registry-client.js';
import { compileIdentity } from '../../src/verify/keyless/identity.js';
import { parseTrustedRoot } from '../../src/verify/keyless/trusted-root.js';
import type { KeylessTrust } from '../../src/verify/keyless/trusted-root.js';
import { DEFAULT_KEYLESS_THRESHOLDS } from '../../src/verify/keyless/verify-bundle.js';
import { createSimpleSigningPayload } from '../../src/verify/simple-signing.js';
import { verifyAttestors } from '../../src/verify/verify-attestations.js';
import type { TrustedAttestor } from '../../src/verify/verify-attestations.js';
import { pushImage } from '../helpers/images.js';
import { cosignAnnotations, pushBundleReferrer, pushKeylessSig } from '../helpers/sigstore-push.js';
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

test('keyless .sig layer (certificate, chain, Rekor SET annotations) satisfies a keyless attestor', async (t) => {
  const img = await pushImage(reg(), { name: 'kl/legacy', variant: 'legacy' });
  const name = `${img.host}/${img.name}`;
  const payload = Buffer.from(createSimpleSigningPayload(name, img.digest));
  await pushKeylessSig(
    reg(),
    img.name,
    img.digest,
    payload,
    cosignAnnotations(dep, await dep.signMessage(payload, signer)),
  );
  const records = await createRegistrySource({ client, sigstoreBundles: false }).fetch(
    { name: name, digest: img.digest },
    undefined,
  );
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
  const annotations = cosignAnnotations(dep, await dep.signMessage(payload, signer));
  delete annotations[COSIGN_BUNDLE_ANNOTATION];
  await pushKeylessSig(reg(), img.name, img.digest, payload, annotations);
  const records = await createRegistrySource({ client, sigstoreBundles: false }).fetch(
    { name: name, digest: img.digest },
    undefined,
  );
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
    await pushBundleReferrer(
      reg(),
      img.name,
      { digest: img.digest, size: img.manifest.length },
      json,
      mediaType,
    );
    const records = await createRegistrySource({ client, cosignLegacy: false }).fetch(
      { name: name, digest: img.digest },
      undefined,
    );
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
