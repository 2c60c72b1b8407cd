/**
 * Keyless signatures and image rules through the real containerd and docker-registry: a private Sigstore
 * deployment built for the test (its trusted root inline in the policy), cosign's two keyless forms (the
 * `.sig` layer with certificate/Rekor annotations, and a Sigstore bundle referrer), and two publishers on
 * one node (a vendor key for `<registry>/vendor/**`, CI's keyless identity by default).
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCriClient, type CriClient } from '../helpers/cri-client.js';
import { runContainer, type RunResult } from '../helpers/run-container.js';
import { createSimpleSigningPayload } from '../../src/verify/simple-signing.js';
import { startCriguard, type Criguard } from '../helpers/criguard.js';
import { pushImage, type PushedImage } from '../helpers/images.js';
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
          keyless: { identities: [{ issuer: GITHUB_ISSUER, subject: CI }], trustedRoot: dep.trustedRoot },
        },
      },
      attestor('vendor', [vendorKey]),
    ],
    criguard: {
      imageRules: [{ namePattern: `${lab().registry.host}/vendor/**`, requireAttestationsBy: ['vendor'] }],
    },
  });
  criguard = await startCriguard({
    upstream: lab().containerd.socket,
    extraArgs: [
      '--policy',
      policyFile,
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

async function keylessSig(image: PushedImage, subject = CI): Promise<void> {
  const payload = Buffer.from(createSimpleSigningPayload(`${image.host}/${image.name}`, image.digest));
  const bundle = await dep.signMessage(payload, { subject, issuer: GITHUB_ISSUER });
  await pushKeylessSig(lab().registry, image.name, image.digest, payload, cosignAnnotations(dep, bundle));
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
