/**
 * Enforcement end to end: criguard with a policy in front of a real containerd and registry, keys and
 * attestations made with criguard's own CLI, offline attestation directory. Every decision is checked in
 * the audit log too.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import { createCriClient, type CriClient, type PodSandboxConfig } from '../helpers/cri-client.js';
import { runContainer, type RunResult } from '../helpers/run-container.js';
import { startCriguard, type Criguard } from '../helpers/criguard.js';
import { importIntoContainerd, pushImage, type PushedImage } from '../helpers/images.js';
import { labReady, podSandboxConfig, useLab } from '../helpers/lab.js';
import {
  attestor,
  criguardCli,
  keygen,
  readAudit,
  sign,
  writePolicy,
  type SigningKey,
} from '../helpers/signing.js';

const lab = useLab(test);
const work = mkdtempSync(join(tmpdir(), 'cge-'));
const attestations = join(work, 'attestations');
const policyFile = join(work, 'policy.json');
const auditLog = join(work, 'audit.jsonl');
const breakglassFile = join(work, 'breakglass', 'breakglass.yaml');
let builder: SigningKey;
let builderNext: SigningKey;
let scanner: SigningKey;
let criguard: Criguard;
let cri: CriClient;

function policy(builderKeys: SigningKey[]): object {
  return {
    defaultAdmissionRule: {
      evaluationMode: 'REQUIRE_ATTESTATION',
      enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      requireAttestationsBy: ['builder'],
    },
    kubernetesNamespaceAdmissionRules: {
      'kube-system': { evaluationMode: 'ALWAYS_ALLOW', enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG' },
      staging: {
        evaluationMode: 'REQUIRE_ATTESTATION',
        enforcementMode: 'DRYRUN_AUDIT_LOG_ONLY',
        requireAttestationsBy: ['builder'],
      },
      strict: {
        evaluationMode: 'REQUIRE_ATTESTATION',
        enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
        requireAttestationsBy: ['builder', 'scanner'],
      },
    },
    attestors: [attestor('builder', builderKeys), attestor('scanner', [scanner])],
  };
}

test.before(async () => {
  builder = await keygen(work, 'builder-2025');
  builderNext = await keygen(work, 'builder-2026');
  scanner = await keygen(work, 'scanner');
  mkdirSync(attestations, { recursive: true });
  writePolicy(policyFile, policy([builder]));
  await labReady(lab);
  criguard = await startCriguard({
    upstream: lab().containerd.socket,
    extraArgs: [
      '--policy',
      policyFile,
      '--attestations-dir',
      attestations,
      '--state-dir',
      join(work, 'state'),
      '--audit-log',
      auditLog,
      '--log-level',
      'warn',
      '--revalidate-interval',
      '1',
      '--breakglass-file',
      breakglassFile,
    ],
  });
  cri = createCriClient(criguard.socket, { deadlineMs: 60_000 });
});

test.after.always(async () => {
  cri?.close();
  await criguard?.dispose();
  rmSync(work, { recursive: true, force: true });
});

function sandbox(namespace: string): PodSandboxConfig {
  return podSandboxConfig(lab(), namespace);
}

async function newImage(): Promise<PushedImage> {
  return pushImage(lab().registry, { variant: `e-${randomUUID()}` });
}

/** Pulls and creates one container in a fresh pod; resolves to the container id or the error. */
function run(image: string, namespace: string): Promise<RunResult> {
  return runContainer(cri, sandbox(namespace), image, {
    start: true,
    userSpecifiedImage: true,
    logPath: 'app.log',
  });
}

/** The last admission record (re-validation of running containers also writes records, asynchronously). */
function lastAudit(): Record<string, unknown> {
  return readAudit(auditLog)
    .filter((r) => r.method !== 'Revalidation')
    .at(-1)!;
}

test.serial('a signed image pulls and runs; each decision is audited', async (t) => {
  const image = await newImage();
  await sign(builder, attestations, image.digestRef);
  const admissions = () => readAudit(auditLog).filter((r) => r.method !== 'Revalidation');
  const before = admissions().length;
  const result = await run(image.digestRef, 'default');
  t.truthy(result.id, result.error?.message);
  const records = admissions().slice(before);
  t.deepEqual(
    records.map((r) => [r.method, r.outcome, r.reason]),
    [
      ['PullImage', 'allow', 'ATTESTATIONS_SATISFIED'],
      ['CreateContainer', 'allow', 'ATTESTATIONS_SATISFIED'],
    ],
  );
  t.true(records[1]!.cacheHit as boolean, 'CreateContainer reuses the verdict of the pull');
});

test.serial('an unsigned image is denied at pull with the kubelet prefix', async (t) => {
  const image = await newImage();
  const result = await run(image.digestRef, 'default');
  t.is(result.stage, 'pull');
  t.is(result.error?.code, 2, 'gRPC UNKNOWN, which cri-client unwraps');
  t.true(result.error!.details.startsWith('SignatureValidationFailed: '), result.error!.details);
  t.true(result.error!.details.includes(image.digest));
  t.true(result.error!.details.includes('builder'));
  t.like(lastAudit(), { method: 'PullImage', outcome: 'deny', reason: 'ATTESTOR_MISSING' });
  t.is(
    (await lab().cri.imageStatus({ image: { image: image.digestRef } })).image,
    null,
    'containerd never pulled it',
  );
});

test.serial(
  'an unsigned image already on the node (pulled behind criguard) is denied at CreateContainer',
  async (t) => {
    const image = await newImage();
    const pulled = await lab().cri.pullImage({ image: { image: image.ref } }); // straight to containerd
    const config = sandbox('default');
    const { pod_sandbox_id } = await cri.runPodSandbox({ config });
    const err = await t.throwsAsync<ServiceError>(
      cri.createContainer({
        pod_sandbox_id,
        config: { metadata: { name: 'sneaky' }, image: { image: pulled.image_ref }, log_path: 's.log' },
        sandbox_config: config,
      }),
    );
    t.is(err.code, 2);
    t.true(err.details.startsWith('SignatureValidationFailed: '), err.details);
    t.like(lastAudit(), { method: 'CreateContainer', outcome: 'deny', container: 'sneaky' });
  },
);

test.serial('an image imported with ctr (no registry digest) is denied at CreateContainer', async (t) => {
  const image = await newImage();
  await importIntoContainerd(lab().containerd, image.ref);
  const status = await lab().cri.imageStatus({ image: { image: image.ref } });
  const config = sandbox('default');
  const { pod_sandbox_id } = await cri.runPodSandbox({ config });
  const err = await t.throwsAsync<ServiceError>(
    cri.createContainer({
      pod_sandbox_id,
      config: { metadata: { name: 'imported' }, image: { image: status.image!.id }, log_path: 'i.log' },
      sandbox_config: config,
    }),
  );
  t.true(err.details.startsWith('SignatureValidationFailed: '), err.details);
  t.like(lastAudit(), { method: 'CreateContainer', outcome: 'deny' });
});

test.serial('a namespace rule (kube-system ALWAYS_ALLOW) is honoured', async (t) => {
  const image = await newImage();
  const result = await run(image.digestRef, 'kube-system');
  t.truthy(result.id, result.error?.message);
  t.like(lastAudit(), { method: 'CreateContainer', outcome: 'allow', reason: 'ALWAYS_ALLOW' });
});

test.serial('dry run admits an unsigned image and records the would-be deny', async (t) => {
  const image = await newImage();
  const result = await run(image.digestRef, 'staging');
  t.truthy(result.id, result.error?.message);
  t.like(lastAudit(), { outcome: 'allow', dryRun: true, wouldBe: 'deny', reason: 'ATTESTOR_MISSING' });
});

test.serial('two required attestors with one present → deny; with both → allow', async (t) => {
  const image = await newImage();
  await sign(builder, attestations, image.digestRef);
  const denied = await run(image.digestRef, 'strict');
  t.is(denied.stage, 'pull');
  t.true(denied.error!.details.includes('scanner'), denied.error!.details);
  await sign(scanner, attestations, image.digestRef);
  // The deny was cached briefly (denyTtlSeconds); a new digest shows the combined rule at once.
  const second = await newImage();
  await sign(builder, attestations, second.digestRef);
  await sign(scanner, attestations, second.digestRef);
  t.truthy((await run(second.digestRef, 'strict')).id);
});

test.serial(
  'key rotation: new key added and used; old key removed → its signatures deny (no restart)',
  async (t) => {
    const byNew = await newImage();
    const byOld = await newImage();
    await sign(builderNext, attestations, byNew.digestRef);
    await sign(builder, attestations, byOld.digestRef);
    writePolicy(policyFile, policy([builder, builderNext]));
    await waitForRevisionChange(t);
    t.truthy((await run(byNew.digestRef, 'default')).id, 'signed by the added key');
    writePolicy(policyFile, policy([builderNext]));
    await waitForRevisionChange(t);
    const old = await run(byOld.digestRef, 'default');
    t.is(old.stage, 'pull', 'signed only by the removed key');
    t.like(lastAudit(), { outcome: 'deny', reason: 'ATTESTOR_MISSING' });
  },
);

async function waitForRevisionChange(t: { log(...v: unknown[]): void }): Promise<void> {
  // The daemon polls the policy file every second; give it three.
  await new Promise((r) => setTimeout(r, 3000));
  t.log('policy reloaded');
}

test.serial(
  'criguard restarted: verdicts survive, so a verified image still starts without its evidence',
  async (t) => {
    const image = await newImage();
    await sign(builderNext, attestations, image.digestRef);
    const pulled = await cri.pullImage({ image: { image: image.digestRef } });
    rmSync(join(attestations, image.digest.replace(':', '-')), { recursive: true, force: true });
    await criguard.stop(10_000); // SIGTERM persists the verdict cache
    await criguard.start();
    cri.close();
    cri = createCriClient(criguard.socket, { deadlineMs: 60_000 });
    const config = sandbox('default');
    const { pod_sandbox_id } = await cri.runPodSandbox({ config });
    const { container_id } = await cri.createContainer({
      pod_sandbox_id,
      config: { metadata: { name: 'after-restart' }, image: { image: pulled.image_ref }, log_path: 'a.log' },
      sandbox_config: config,
    });
    t.truthy(container_id);
    t.like(lastAudit(), { method: 'CreateContainer', outcome: 'allow', cacheHit: true });
  },
);

test.serial(
  'continuous validation reports a running container whose key was removed from the policy',
  async (t) => {
    const image = await newImage();
    await sign(builderNext, attestations, image.digestRef);
    const result = await run(image.digestRef, 'default');
    t.truthy(result.id, result.error?.message);
    const other = await keygen(work, 'unrelated');
    writePolicy(policyFile, policy([other]));
    let violation: Record<string, unknown> | undefined;
    for (let i = 0; i < 100 && !violation; i++) {
      await new Promise((r) => setTimeout(r, 100));
      violation = readAudit(auditLog).find(
        (r) =>
          r.method === 'Revalidation' &&
          r.outcome === 'deny' &&
          (r.digests as string[]).includes(image.digest),
      );
    }
    t.truthy(violation, 'a Revalidation deny record for the running container');
    const metrics = await (await fetch(`${criguard.metricsUrl}/metrics`)).text();
    t.regex(metrics, /criguard_running_violations [1-9]/);
    const status = await cri.containerStatus({ container_id: result.id! });
    t.is(status.status?.state, 'CONTAINER_RUNNING', 'nothing is stopped');
    writePolicy(policyFile, policy([builderNext]));
  },
);

test.serial('breakglass: a scoped, audited override opens and closes within seconds', async (t) => {
  const image = await newImage();
  t.is((await run(image.digestRef, 'emergency')).stage, 'pull', 'denied before the breakglass');
  const enabled = await criguardCli([
    'breakglass',
    'enable',
    '--file',
    breakglassFile,
    '--reason',
    'INC-42 payment outage',
    '--ticket',
    'INC-42',
    '--duration',
    '1h',
    '--namespace',
    'emergency',
  ]);
  t.is(enabled.code, 0, enabled.stderr);
  let allowed: Awaited<ReturnType<typeof run>> | undefined;
  for (let i = 0; i < 30 && !allowed?.id; i++) {
    await new Promise((r) => setTimeout(r, 100));
    allowed = await run(image.digestRef, 'emergency');
  }
  t.truthy(allowed?.id, 'admitted within 3 s of enabling');
  const record = readAudit(auditLog)
    .filter((r) => r.reason === 'BREAKGLASS')
    .at(-1) as
    { breakglass: { ticket: string; fileSha256: string; overridden: { reason: string } } } | undefined;
  t.is(record?.breakglass.ticket, 'INC-42');
  t.regex(record?.breakglass.fileSha256 ?? '', /^sha256:[0-9a-f]{64}$/);
  t.is(record?.breakglass.overridden.reason, 'ATTESTOR_MISSING');
  t.is((await run(image.digestRef, 'default')).stage, 'pull', 'other namespaces stay enforced');
  t.true(readAudit(auditLog).some((r) => r.event === 'breakglass' && r.state === 'active'));

  t.is((await criguardCli(['breakglass', 'disable', '--file', breakglassFile])).code, 0);
  await new Promise((r) => setTimeout(r, 2500));
  t.is((await run(image.digestRef, 'emergency')).stage, 'pull', 'denied again once closed');
});

test.serial('an unsafe breakglass file (group-writable) is ignored as a whole and reported', async (t) => {
  const { chmodSync } = await import('node:fs');
  await criguardCli([
    'breakglass',
    'enable',
    '--file',
    breakglassFile,
    '--reason',
    'x',
    '--duration',
    '1h',
    '--all',
  ]);
  chmodSync(breakglassFile, 0o664);
  await new Promise((r) => setTimeout(r, 2500));
  const image = await newImage();
  t.is((await run(image.digestRef, 'default')).stage, 'pull', 'enforcement stays on');
  t.true(
    readAudit(auditLog).some((r) => r.event === 'breakglass' && r.state === 'invalid'),
    'the ignored file is in the audit log',
  );
  const metrics = await (await fetch(`${criguard.metricsUrl}/metrics`)).text();
  t.regex(metrics, /criguard_breakglass_invalid 1/);
  await criguardCli(['breakglass', 'disable', '--file', breakglassFile]);
});
