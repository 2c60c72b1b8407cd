/**
 * Keyless signatures and image rules through the real containerd and docker-registry: a private Sigstore
 * deployment built for the test (its trusted root in the node's root file, serve setting `trustedRoot`), cosign's two keyless forms (the
 * `.sig` layer with certificate/Rekor annotations, and a Sigstore bundle referrer), and two publishers on
 * one node (a vendor key for `<registry>/vendor/**`, CI's keyless identity by default); multi-arch indexes
 * signed either way, on the index or on the node's platform manifest.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCriClient, type CriClient } from '../helpers/cri-client.js';
import { runContainer, type RunResult } from '../helpers/run-container.js';
import { createSimpleSigningPayload } from '../../src/verify/simple-signing.js';
import { startCriguard, type Criguard } from '../helpers/criguard.js';
import { OCI_INDEX, pushImage, pushIndex, type PushedImage } from '../helpers/images.js';
import { labReady, podSandboxConfig, useLab } from '../helpers/lab.js';
import {
  attestor,
  criguardCli,
  keygen,
  readAudit,
  writePolicy,
  type SigningKey,
} from '../helpers/signing.js';
import { createSigstoreDeployment, GITHUB_ISSUER } from '../helpers/sigstore-deployment.js';
import type { SigstoreDeployment } from '../helpers/sigstore-deployment.js';
import { cosignAnnotations, pushBundleReferrer, pushKeylessSig } from '../helpers/sigstore-push.js';

const lab = useLab(test);
const work = mkdtempSync(join(tmpdir(), 'cgk-'));
const policyFile = join(work, 'policy.json');
const auditLog = join(work, 'audit.jsonl');
const CI = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
let dep: SigstoreDeployment;
let vendorKey: SigningKey;
let criguard: Criguard;
let cri: CriClient;

test.before(async () => {
  dep = await createSigstoreDeployment();
  vendorKey = await keygen(work, 'vendor');
  await labReady(lab);
  writePolicy(policyFile, {
    defaultAdmissionRule: {
      evaluationMode: 'REQUIRE_ATTESTATION',
      enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      requireAttestationsBy: ['ci'],
    },
    kubernetesNamespaceAdmissionRules: {
      vendor: { evaluationMode: 'ALWAYS_ALLOW', enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG' },
    },
    attestors: [
      {
        name: 'ci',
        criguard: {
          keyless: { identities: [{ issuer: GITHUB_ISSUER, subject: CI }] },
        },
      },
      attestor('vendor', [vendorKey]),
    ],
    criguard: {
      imageRules: [{ namePattern: `${lab().registry.host}/vendor/**`, requireAttestationsBy: ['vendor'] }],
    },
  });
  const rootFile = join(work, 'trusted_root.json');
  writeFileSync(rootFile, JSON.stringify(dep.trustedRoot));
  criguard = await startCriguard({
    upstream: lab().containerd.socket,
    extraArgs: [
      '--policy',
      policyFile,
      '--trusted-root',
      rootFile,
      '--state-dir',
      join(work, 'state'),
      '--audit-log',
      auditLog,
      '--verify-timeout',
      '10',
    ],
  });
  cri = createCriClient(criguard.socket, { deadlineMs: 60_000 });
});

test.after.always(async () => {
  cri?.close();
  await criguard?.dispose();
  rmSync(work, { recursive: true, force: true });
});

function pullAndCreate(image: string, namespace = 'default'): Promise<RunResult> {
  return runContainer(cri, podSandboxConfig(lab(), namespace), image);
}

async function keylessSig(image: PushedImage, subject = CI, digest = image.digest): Promise<void> {
  const payload = Buffer.from(createSimpleSigningPayload(`${image.host}/${image.name}`, digest));
  const bundle = await dep.signMessage(payload, { subject, issuer: GITHUB_ISSUER });
  await pushKeylessSig(lab().registry, image.name, digest, payload, cosignAnnotations(dep, bundle));
}

/** The last PullImage audit record. */
function lastPull(): ReturnType<typeof readAudit>[number] {
  return readAudit(auditLog)
    .filter((r) => r.method === 'PullImage')
    .at(-1)!;
}

test.serial('keyless .sig layer by the CI identity: pulled and created', async (t) => {
  const image = await pushImage(lab().registry, { name: 'team/app', variant: `sig-${randomUUID()}` });
  await keylessSig(image);
  const result = await pullAndCreate(image.ref);
  t.truthy(result.id, result.error?.details);
  const pull = readAudit(auditLog)
    .filter((r) => r.method === 'PullImage')
    .at(-1)!;
  t.is(pull.outcome, 'allow');
});

test.serial('keyless Sigstore bundle (v0.3 referrer) by the CI identity: pulled and created', async (t) => {
  const image = await pushImage(lab().registry, { name: 'team/app', variant: `bundle-${randomUUID()}` });
  const bundle = await dep.signDsse(image.digest, { subject: CI, issuer: GITHUB_ISSUER });
  await pushBundleReferrer(
    lab().registry,
    image.name,
    { digest: image.digest, size: image.manifest.length },
    bundle,
  );
  const result = await pullAndCreate(image.ref);
  t.truthy(result.id, result.error?.details);
});

test.serial(
  'keyless_wrong_identity_e2e_fail: another workflow’s certificate is denied at pull',
  async (t) => {
    const image = await pushImage(lab().registry, { name: 'team/app', variant: `other-${randomUUID()}` });
    await keylessSig(image, 'https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main');
    const result = await pullAndCreate(image.ref);
    t.is(result.stage, 'pull');
    t.regex(result.error!.details, /^SignatureValidationFailed: .*ci \(IDENTITY_MISMATCH\)/);
  },
);

test.serial(
  'two publishers: a vendor image needs the vendor key (image rule); CI keyless does not replace it',
  async (t) => {
    const signed = await pushImage(lab().registry, { name: 'vendor/db', variant: `v-${randomUUID()}` });
    const out = await criguardCli([
      'sign',
      '--key',
      vendorKey.keyFile,
      '--key-id',
      vendorKey.id,
      '--push',
      signed.digestRef,
    ]);
    t.is(out.code, 0, out.stderr);
    t.truthy((await pullAndCreate(signed.ref, 'vendor')).id);
    // Signed by CI only: the image rule still wants the vendor.
    const ciOnly = await pushImage(lab().registry, { name: 'vendor/db', variant: `c-${randomUUID()}` });
    await keylessSig(ciOnly);
    const denied = await pullAndCreate(ciOnly.ref, 'vendor');
    t.is(denied.stage, 'pull');
    t.regex(denied.error!.details, /vendor \(NO_ATTESTATION\)/);
    const pull = readAudit(auditLog)
      .filter((r) => r.method === 'PullImage')
      .at(-1)!;
    t.is(pull.outcome, 'deny');
  },
);

test.serial(
  'multi-arch index with a keyless .sig on the index digest: pulled by tag and created',
  async (t) => {
    const index = await pushIndex(lab().registry, { name: 'team/multi', variant: `isig-${randomUUID()}` });
    await keylessSig(index);
    const result = await pullAndCreate(index.ref);
    t.truthy(result.id, result.error?.details);
    t.is(lastPull().outcome, 'allow');
  },
);

test.serial(
  'multi-arch index with a keyless bundle referrer of the index: pulled by tag and created',
  async (t) => {
    const index = await pushIndex(lab().registry, { name: 'team/multi', variant: `ibun-${randomUUID()}` });
    const bundle = await dep.signDsse(index.digest, { subject: CI, issuer: GITHUB_ISSUER });
    await pushBundleReferrer(
      lab().registry,
      index.name,
      { digest: index.digest, size: index.manifest.length, mediaType: OCI_INDEX },
      bundle,
    );
    const result = await pullAndCreate(index.ref);
    t.truthy(result.id, result.error?.details);
  },
);

test.serial(
  'multi-arch index signed keyless only on its platform manifests (cosign --recursive style): the node’s platform counts, another platform’s does not',
  async (t) => {
    const amd64Only = await pushIndex(lab().registry, {
      name: 'team/multi',
      variant: `pamd-${randomUUID()}`,
    });
    const amd64 = amd64Only.manifests.find((m) => m.platform.architecture === 'amd64')!;
    await keylessSig(amd64Only, CI, amd64.digest);
    const allowed = await pullAndCreate(amd64Only.ref);
    t.truthy(allowed.id, allowed.error?.details);

    const arm64Only = await pushIndex(lab().registry, {
      name: 'team/multi',
      variant: `parm-${randomUUID()}`,
    });
    const arm64 = arm64Only.manifests.find((m) => m.platform.architecture === 'arm64')!;
    const bundle = await dep.signDsse(arm64.digest, { subject: CI, issuer: GITHUB_ISSUER });
    await pushBundleReferrer(lab().registry, arm64Only.name, { digest: arm64.digest, size: 1 }, bundle);
    await keylessSig(arm64Only, CI, arm64.digest);
    const denied = await pullAndCreate(arm64Only.ref);
    t.is(denied.stage, 'pull');
    t.regex(denied.error!.details, /ci \(NO_ATTESTATION\)/);
    t.is(lastPull().outcome, 'deny');
  },
);
