/**
 * Google's "block (almost) all" policy on a real node (containerd + runc + docker-registry): with
 * `globalPolicyEvaluationMode: ENABLE` the sandbox image containerd is configured with and a
 * registry.k8s.io system image carrying the Kubernetes release identity's keyless signature keep
 * running, the images `criguard policy pin-node-images` pinned (a CNI-shaped image, a static pod image)
 * keep running, and an application image is denied. registry.k8s.io is the lab registry through a
 * containerd hosts.toml mirror (no internet); the release signature comes from a private Sigstore
 * deployment whose root the policy names (`criguard.trustedRoot`), where a real node uses the shipped
 * public-good root. With DISABLE, the same node loses the sandbox image and kube-proxy.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { createCriClient, type CriClient } from '../helpers/cri-client.js';
import { createSimpleSigningPayload } from '../../src/verify/simple-signing.js';
import { startCriguard, type Criguard } from '../helpers/criguard.js';
import { pushImage, PAUSE_NAME, PAUSE_TAG, type PushedImage } from '../helpers/images.js';
import { labReady, podSandboxConfig, useLab } from '../helpers/lab.js';
import { runContainer } from '../helpers/run-container.js';
import { criguardCli, readAudit, writePolicy } from '../helpers/signing.js';
import { createSigstoreDeployment, type SigstoreDeployment } from '../helpers/sigstore-deployment.js';
import { cosignAnnotations, pushKeylessSig } from '../helpers/sigstore-push.js';

const KREL = 'krel-trust@k8s-releng-prod.iam.gserviceaccount.com';
const GOOGLE = 'https://accounts.google.com';
const K8S = 'registry.k8s.io';
const KUBE_PROXY = `${K8S}/kube-proxy:v1.31.0`;
const KUBE_PROXY_UNSIGNED = `${K8S}/kube-proxy:v1.31.0-unsigned`;
const ETCD = `${K8S}/etcd:3.5.15-0`;

const lab = useLab(test);
const work = mkdtempSync(join(tmpdir(), 'cg-sys-'));
const policyFile = join(work, 'policy.json');
const auditLog = join(work, 'audit.jsonl');
const pinsFile = join(work, 'pins.yaml');
const staticPodDir = join(work, 'manifests');
let dep: SigstoreDeployment;
let criguard: Criguard;
let cri: CriClient;
let sandboxRef: string;
let cni: PushedImage;
let app: PushedImage;
let pins: string[];
let pinOutput: { code: number; stdout: string; stderr: string };

function blockAll(mode: 'ENABLE' | 'DISABLE'): object {
  return {
    name: 'projects/example-project/policy',
    globalPolicyEvaluationMode: mode,
    defaultAdmissionRule: { evaluationMode: 'ALWAYS_DENY', enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG' },
    criguard: {
      // The lab's Sigstore; a node verifying registry.k8s.io's real signatures leaves this out.
      trustedRoot: dep.trustedRoot,
      // The reviewed pins, without the sandbox image's: the system policy must admit it on its own.
      nodeCriticalImages: pins.filter((p) => !p.startsWith(`${lab().registry.host}/${PAUSE_NAME}@`)),
    },
  };
}

async function waitForLog(pattern: RegExp, what: string): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (pattern.test(readFileSync(criguard.logFile, 'utf8'))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`criguard never logged ${what}`);
}

test.before(async () => {
  dep = await createSigstoreDeployment();
  await labReady(lab);
  const registry = lab().registry;
  sandboxRef = `${registry.host}/${PAUSE_NAME}:${PAUSE_TAG}`;
  // registry.k8s.io is the lab registry, for containerd and criguard alike (hosts.toml).
  const k8sHosts = join(lab().containerd.dir, 'certs.d', K8S);
  mkdirSync(k8sHosts, { recursive: true });
  writeFileSync(
    join(k8sHosts, 'hosts.toml'),
    `server = "https://${K8S}"\n\n[host."http://${registry.host}"]\n  capabilities = ["pull", "resolve"]\n`,
  );
  const kubeProxy = await pushImage(registry, {
    name: 'kube-proxy',
    tag: 'v1.31.0',
    variant: `kp-${randomUUID()}`,
  });
  await pushImage(registry, { name: 'kube-proxy', tag: 'v1.31.0-unsigned', variant: `kpu-${randomUUID()}` });
  await pushImage(registry, { name: 'etcd', tag: '3.5.15-0', variant: `etcd-${randomUUID()}` });
  cni = await pushImage(registry, { name: 'cni/flannel', tag: 'v0.25.7', variant: `cni-${randomUUID()}` });
  app = await pushImage(registry, { name: 'team/app', variant: `app-${randomUUID()}` });
  // kube-proxy carries a keyless signature by the Kubernetes release identity (cosign's `.sig` form).
  const payload = Buffer.from(createSimpleSigningPayload(`${K8S}/kube-proxy`, kubeProxy.digest));
  const bundle = await dep.signMessage(payload, { subject: KREL, issuer: GOOGLE });
  await pushKeylessSig(registry, 'kube-proxy', kubeProxy.digest, payload, cosignAnnotations(dep, bundle));

  // The node before enforcement: the CNI runs (containerd pulled the sandbox image for its pod), the
  // static pod's image is on the node, its manifest in the kubelet's static pod directory.
  const direct = lab().cri;
  const running = await runContainer(direct, podSandboxConfig(lab(), 'kube-flannel'), cni.ref, {
    start: true,
  });
  if (!running.id) throw new Error(`CNI container: ${running.error?.details ?? '?'}`);
  await direct.pullImage({ image: { image: ETCD } });
  mkdirSync(staticPodDir);
  writeFileSync(
    join(staticPodDir, 'etcd.yaml'),
    [
      'apiVersion: v1',
      'kind: Pod',
      'metadata: {name: etcd, namespace: kube-system}',
      'spec:',
      '  containers:',
      `    - {name: etcd, image: "${ETCD}", command: [etcd]}`,
      '',
    ].join('\n'),
  );
  pinOutput = await criguardCli([
    'policy',
    'pin-node-images',
    '--containerd-socket',
    lab().containerd.socket,
    '--static-pod-dir',
    staticPodDir,
    '--output',
    pinsFile,
  ]);
  pins = (parse(readFileSync(pinsFile, 'utf8')) as { criguard: { nodeCriticalImages: string[] } }).criguard
    .nodeCriticalImages;

  writePolicy(policyFile, blockAll('ENABLE'));
  writeFileSync(
    join(work, 'config.json'),
    JSON.stringify({
      registryHostsDir: join(lab().containerd.dir, 'certs.d'),
      nodeCredentials: { dockerConfigFiles: [] },
    }),
  );
  criguard = await startCriguard({
    upstream: lab().containerd.socket,
    extraArgs: [
      '--config',
      join(work, 'config.json'),
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
  await waitForLog(/system policy: sandbox image facts/, 'the sandbox image facts');
  cri = createCriClient(criguard.socket, { deadlineMs: 60_000 });
});

test.after.always(async () => {
  cri?.close();
  await criguard?.dispose();
  rmSync(work, { recursive: true, force: true });
});

function lastRecord(method: string, image: string): Record<string, unknown> | undefined {
  return readAudit(auditLog)
    .filter((r) => r.method === method && (r.image === image || method === 'CreateContainer'))
    .at(-1);
}

test.serial(
  'pin-node-images pins the running CNI, the sandbox image and the static pod image, for review',
  (t) => {
    t.is(pinOutput.code, 0, pinOutput.stderr);
    const text = readFileSync(pinsFile, 'utf8');
    t.regex(text, /REVIEW BY A HUMAN BEFORE USE/);
    t.regex(text, /# container kube-flannel\/pod-[0-9a-f]+\/app\n/);
    t.regex(text, new RegExp(`# static pod ${staticPodDir}/etcd\\.yaml\\n`));
    t.regex(text, /# sandbox image \(containerd config\)\n/);
    t.true(pins.includes(`${cni.host}/${cni.name}@${cni.digest}`), pins.join(' '));
    t.true(
      pins.some((p) => p.startsWith(`${K8S}/etcd@sha256:`)),
      pins.join(' '),
    );
    t.true(
      pins.some((p) => p.startsWith(`${lab().registry.host}/${PAUSE_NAME}@sha256:`)),
      pins.join(' '),
    );
    // Nothing that does not run: the application image was never pulled.
    t.false(pins.some((p) => p.includes('team/app')));
    t.is(pins.length, 3, pins.join(' '));
  },
);

test.serial(
  'the sandbox image containerd is configured with is pulled and runs: SYSTEM_POLICY',
  async (t) => {
    const result = await runContainer(cri, podSandboxConfig(lab(), 'kube-system'), sandboxRef, {
      start: true,
    });
    t.truthy(result.id, result.error?.details);
    t.like(lastRecord('PullImage', sandboxRef), { outcome: 'allow', reason: 'SYSTEM_POLICY' });
    t.like(lastRecord('CreateContainer', ''), { outcome: 'allow', reason: 'SYSTEM_POLICY' });
  },
);

test.serial('kube-proxy with the Kubernetes release signature runs: SYSTEM_POLICY', async (t) => {
  const result = await runContainer(cri, podSandboxConfig(lab(), 'kube-system'), KUBE_PROXY, { start: true });
  t.truthy(result.id, result.error?.details);
  const pull = lastRecord('PullImage', KUBE_PROXY);
  t.like(pull, { outcome: 'allow', reason: 'SYSTEM_POLICY', imageName: `${K8S}/kube-proxy` });
  t.like(pull?.verdict, { rule: { kind: 'system', key: `${K8S}/kube-proxy` } });
  t.like(lastRecord('CreateContainer', ''), { outcome: 'allow', reason: 'SYSTEM_POLICY' });
});

test.serial('the pinned CNI and static pod images run: NODE_CRITICAL', async (t) => {
  for (const image of [cni.ref, ETCD]) {
    const result = await runContainer(cri, podSandboxConfig(lab(), 'kube-system'), image, { start: true });
    t.truthy(result.id, `${image}: ${result.error?.details ?? ''}`);
    t.like(lastRecord('PullImage', image), { outcome: 'allow', reason: 'NODE_CRITICAL' }, image);
  }
});

test.serial('an application image is denied, and so is an unsigned kube-proxy', async (t) => {
  const denied = await runContainer(cri, podSandboxConfig(lab(), 'default'), app.ref);
  t.is(denied.stage, 'pull');
  t.regex(
    denied.error?.details ?? '',
    /^SignatureValidationFailed: .* is denied: the default rule allows no images/,
  );
  const lookAlike = await runContainer(cri, podSandboxConfig(lab(), 'kube-system'), KUBE_PROXY_UNSIGNED);
  t.is(lookAlike.stage, 'pull');
  // Denied by the rule, or undecided (denied) where the lab's registry.k8s.io cannot say "no signature".
  const record = lastRecord('PullImage', KUBE_PROXY_UNSIGNED);
  t.is(record?.outcome, 'deny');
  t.true(['ALWAYS_DENY', 'UNDECIDED'].includes(String(record?.reason)), String(record?.reason));
});

test.serial(
  'with DISABLE the same node loses the sandbox image and kube-proxy; pins still hold',
  async (t) => {
    const before = readAudit(auditLog).length;
    writePolicy(policyFile, blockAll('DISABLE'));
    await waitForLog(/policy reloaded/, 'the reload');
    for (const image of [sandboxRef, KUBE_PROXY]) {
      const result = await runContainer(cri, podSandboxConfig(lab(), 'kube-system'), image);
      t.is(result.stage, 'pull', image);
      t.like(lastRecord('PullImage', image), { outcome: 'deny', reason: 'ALWAYS_DENY' }, image);
    }
    t.truthy((await runContainer(cri, podSandboxConfig(lab(), 'kube-system'), cni.ref)).id);
    t.true(readAudit(auditLog).length > before);
  },
);
