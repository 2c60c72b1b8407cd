/**
 * Enforcement with signatures in the registry (cosign's `sha256-<hex>.sig` format): tags resolved through
 * the registry, `criguard sign --push`, a signature made by an independent tool chain (openssl + skopeo),
 * multi-arch indexes, a registry outage, metrics and health endpoints, audit completeness.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ServiceError } from '@grpc/grpc-js';
import { createCriClient, type CriClient, type PodSandboxConfig } from '../helpers/cri-client.js';
import { startCriguard, type Criguard } from '../helpers/criguard.js';
import { pushImage, pushIndex, type PushedImage } from '../helpers/images.js';
import { labReady, podSandboxConfig, useLab } from '../helpers/lab.js';
import {
  attestor,
  criguardCli,
  keygen,
  readAudit,
  writePolicy,
  type SigningKey,
} from '../helpers/signing.js';

const execFileAsync = promisify(execFile);
const lab = useLab(test);
const work = mkdtempSync(join(tmpdir(), 'cgr-'));
const policyFile = join(work, 'policy.json');
const auditLog = join(work, 'audit.jsonl');
let key: SigningKey;
let criguard: Criguard;
let cri: CriClient;
let gatedCalls = 0;

test.before(async () => {
  key = await keygen(work, 'ci');
  // The openssl signer's key joins the same attestor: an independent tool chain.
  await execFileAsync('openssl', [
    'ecparam',
    '-name',
    'prime256v1',
    '-genkey',
    '-noout',
    '-out',
    join(work, 'ossl.pem'),
  ]);
  await execFileAsync('openssl', [
    'ec',
    '-in',
    join(work, 'ossl.pem'),
    '-pubout',
    '-out',
    join(work, 'ossl.pub'),
  ]);
  const { readFileSync } = await import('node:fs');
  const osslKey: SigningKey = {
    keyFile: join(work, 'ossl.pem'),
    publicPem: readFileSync(join(work, 'ossl.pub'), 'utf8'),
    id: 'openssl',
  };
  writePolicy(policyFile, {
    defaultAdmissionRule: {
      evaluationMode: 'REQUIRE_ATTESTATION',
      enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      requireAttestationsBy: ['ci'],
    },
    attestors: [attestor('ci', [key, osslKey])],
  });
  await labReady(lab);
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

function sandbox(): PodSandboxConfig {
  return podSandboxConfig(lab(), 'default');
}

async function pullAndCreate(
  image: string,
): Promise<{ id?: string; error?: ServiceError; stage?: string; imageId?: string }> {
  const config = sandbox();
  const { pod_sandbox_id } = await cri.runPodSandbox({ config });
  let imageId: string;
  try {
    gatedCalls += 1;
    imageId = (await cri.pullImage({ image: { image }, sandbox_config: config })).image_ref;
  } catch (err) {
    return { error: err as ServiceError, stage: 'pull' };
  }
  try {
    gatedCalls += 1;
    const { container_id } = await cri.createContainer({
      pod_sandbox_id,
      config: {
        metadata: { name: 'app' },
        image: { image: imageId },
        command: ['/bin/sleep', '3600'],
        log_path: 'a.log',
      },
      sandbox_config: config,
    });
    return { id: container_id, imageId };
  } catch (err) {
    return { error: err as ServiceError, stage: 'create', imageId };
  }
}

async function signAndPush(image: PushedImage): Promise<void> {
  const out = await criguardCli(['sign', '--key', key.keyFile, '--push', image.digestRef]);
  if (out.code !== 0) throw new Error(out.stderr);
}

test.serial(
  'a tag whose digest carries a pushed cosign signature is admitted; the tag is resolved',
  async (t) => {
    const image = await pushImage(lab().registry, { variant: `tag-${randomUUID()}` });
    await signAndPush(image);
    const result = await pullAndCreate(image.ref);
    t.truthy(result.id, result.error?.details);
    const pull = readAudit(auditLog)
      .filter((r) => r.method === 'PullImage')
      .at(-1)!;
    t.deepEqual(pull.digests, [image.digest]);
    t.is(pull.outcome, 'allow');
  },
);

test.serial('an unsigned tag is denied at pull', async (t) => {
  const image = await pushImage(lab().registry, { variant: `unsigned-${randomUUID()}` });
  const result = await pullAndCreate(image.ref);
  t.is(result.stage, 'pull');
  t.true(result.error!.details.startsWith('SignatureValidationFailed: '), result.error!.details);
});

test.serial(
  'interop: a cosign-format signature made with openssl and pushed with skopeo verifies',
  async (t) => {
    const image = await pushImage(lab().registry, { variant: `interop-${randomUUID()}` });
    const payload = Buffer.from(
      JSON.stringify({
        critical: {
          identity: { 'docker-reference': `${image.host}/${image.name}` },
          image: { 'docker-manifest-digest': image.digest },
          type: 'cosign container image signature',
        },
        optional: null,
      }),
    );
    const payloadFile = join(work, 'payload.json');
    writeFileSync(payloadFile, payload);
    await execFileAsync('openssl', [
      'dgst',
      '-sha256',
      '-sign',
      join(work, 'ossl.pem'),
      '-out',
      join(work, 'sig.der'),
      payloadFile,
    ]);
    const { readFileSync } = await import('node:fs');
    const signature = readFileSync(join(work, 'sig.der')).toString('base64');
    const layout = join(work, `oci-${randomUUID()}`);
    const blob = (bytes: Buffer) => {
      const hex = createHash('sha256').update(bytes).digest('hex');
      mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
      writeFileSync(join(layout, 'blobs', 'sha256', hex), bytes);
      return { digest: `sha256:${hex}`, size: bytes.length };
    };
    const config = blob(
      Buffer.from(JSON.stringify({ architecture: '', os: '', rootfs: { type: 'layers', diff_ids: [] } })),
    );
    const layer = blob(payload);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [
          {
            mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
            ...layer,
            annotations: { 'dev.cosignproject.cosign/signature': signature },
          },
        ],
      }),
    );
    const m = blob(manifest);
    writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(
      join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            ...m,
            annotations: { 'org.opencontainers.image.ref.name': 'sig' },
          },
        ],
      }),
    );
    const tag = `${image.digest.replace(':', '-')}.sig`;
    await execFileAsync('skopeo', [
      'copy',
      '--dest-tls-verify=false',
      '--preserve-digests',
      `oci:${layout}:sig`,
      `docker://${image.host}/${image.name}:${tag}`,
    ]);
    const result = await pullAndCreate(image.digestRef);
    t.truthy(result.id, result.error?.details);
  },
);

test.serial('multi-arch: a signature on the index admits the platform image containerd runs', async (t) => {
  const index = await pushIndex(lab().registry, { variant: `multi-${randomUUID()}` });
  await signAndPush(index);
  const result = await pullAndCreate(index.ref);
  t.truthy(result.id, result.error?.details);
  t.is(result.imageId, index.configDigest, 'containerd runs the amd64 image of the index');
});

test.serial(
  "multi-arch: a signature on this platform's manifest only is accepted; on another platform's, not",
  async (t) => {
    const index = await pushIndex(lab().registry, { variant: `per-platform-${randomUUID()}` });
    const amd64 = index.manifests.find((m) => m.platform.architecture === 'amd64')!;
    await signAndPush({ ...index, digestRef: `${index.host}/${index.name}@${amd64.digest}` });
    const result = await pullAndCreate(index.ref);
    t.truthy(result.id, result.error?.details);
    const pull = readAudit(auditLog)
      .filter((r) => r.method === 'PullImage')
      .at(-1)!;
    t.deepEqual(pull.digests, [index.digest, amd64.digest]);

    const other = await pushIndex(lab().registry, { variant: `other-platform-${randomUUID()}` });
    const arm64 = other.manifests.find((m) => m.platform.architecture === 'arm64')!;
    await signAndPush({ ...other, digestRef: `${other.host}/${other.name}@${arm64.digest}` });
    const denied = await pullAndCreate(other.ref);
    t.is(denied.stage, 'pull', 'a signature for arm64 does not admit the amd64 image');
  },
);

test.serial(
  'registry stopped: new digests get RegistryUnavailable; a cached allow still starts containers',
  async (t) => {
    const verified = await pushImage(lab().registry, { variant: `cached-${randomUUID()}` });
    await signAndPush(verified);
    const before = await pullAndCreate(verified.digestRef);
    t.truthy(before.id);
    const fresh = await pushImage(lab().registry, { variant: `fresh-${randomUUID()}` });
    await lab().registry.stop();
    try {
      const denied = await pullAndCreate(fresh.digestRef);
      t.is(denied.stage, 'pull');
      t.true(denied.error!.details.startsWith('RegistryUnavailable: '), denied.error!.details);
      const config = sandbox();
      const { pod_sandbox_id } = await cri.runPodSandbox({ config });
      gatedCalls += 1;
      const { container_id } = await cri.createContainer({
        pod_sandbox_id,
        config: { metadata: { name: 'again' }, image: { image: before.imageId! }, log_path: 'b.log' },
        sandbox_config: config,
      });
      t.truthy(container_id);
    } finally {
      await lab().registry.restart();
    }
  },
);

test.serial(
  'metrics, health and readiness are served; every gated call left exactly one audit record',
  async (t) => {
    t.is((await fetch(`${criguard.metricsUrl}/healthz`)).status, 200);
    const ready = await fetch(`${criguard.metricsUrl}/readyz`);
    t.is(ready.status, 200, await ready.text());
    const metrics = await (await fetch(`${criguard.metricsUrl}/metrics`)).text();
    t.regex(
      metrics,
      /criguard_decisions_total\{method="PullImage",outcome="allow",reason="ATTESTATIONS_SATISFIED",dry_run="false"\} [1-9]/,
    );
    t.regex(
      metrics,
      /criguard_decisions_total\{method="PullImage",outcome="deny",reason="ATTESTOR_MISSING",dry_run="false"\} [1-9]/,
    );
    t.regex(metrics, /criguard_undecided_total\{code="CG_ERR_REGISTRY_UNAVAILABLE"\} [1-9]/);
    t.regex(metrics, /criguard_policy_info\{revision="sha256:[0-9a-f]{64}"\} 1/);
    const status = (await (await fetch(`${criguard.metricsUrl}/status`)).json()) as {
      enforcing: boolean;
      containerd: string;
    };
    t.true(status.enforcing);
    t.is(status.containerd, 'ok');
    const records = readAudit(auditLog).filter((r) => r.method !== 'Revalidation');
    t.is(records.length, gatedCalls, 'decisions equal audit records');
    t.false(JSON.stringify(records).includes('password'), 'no credentials in the audit log');
  },
);
