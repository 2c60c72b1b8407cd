/**
 * Node credentials end to end: a private docker-registry with htpasswd basic auth holds a signed image that
 * containerd already has (pulled before criguard was installed; criguard's state dir is empty). The kubelet
 * sends no credentials with CreateContainer, so criguard must use the node's own, through a kubelet
 * credential provider plugin written for the test, or through a Docker config.json. Re-validation too.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import { createCriClient } from '../helpers/cri-client.js';
import { startCriguard } from '../helpers/criguard.js';
import { spawnDaemon, waitFor, type Daemon } from '../helpers/daemon.js';
import { pushImage, type PushedImage } from '../helpers/images.js';
import { labReady, podSandboxConfig, useLab } from '../helpers/lab.js';
import { startRegistry } from '../helpers/registry.js';
import {
  attestor,
  criguardCli,
  keygen,
  readAudit,
  writePolicy,
  type SigningKey,
} from '../helpers/signing.js';

const lab = useLab(test);
const work = mkdtempSync(join(tmpdir(), 'cg-nodecreds-'));
const USER = 'node-puller';
const PASSWORD = `pw-${randomUUID()}`;
let key: SigningKey;
let host: string;
let privateRegistry: Daemon | undefined;
let disposeStorage: (() => Promise<void>) | undefined;
let signed: PushedImage;
let unsigned: PushedImage;
const imageIds = new Map<string, string>();

test.before(async () => {
  key = await keygen(work, 'ci');
  await labReady(lab);
  // Push and sign while the registry is open, then restart it with basic auth on the same port and storage.
  const open = await startRegistry();
  host = open.host;
  signed = await pushImage(open, { variant: `signed-${randomUUID()}` });
  unsigned = await pushImage(open, { variant: `unsigned-${randomUUID()}` });
  const out = await criguardCli(['sign', '--key', key.keyFile, '--push', signed.digestRef]);
  if (out.code !== 0) throw new Error(out.stderr);
  await open.stop();
  disposeStorage = () => open.dispose();
  // Apache's htpasswd (bcrypt, as docker-registry requires).
  const line = execFileSync('htpasswd', ['-nbB', USER, PASSWORD]).toString().trim();
  writeFileSync(join(work, 'htpasswd'), `${line}\n`);
  const config = join(work, 'registry.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(open.dir, 'storage')}`,
      'auth:',
      '  htpasswd:',
      '    realm: criguard-test',
      `    path: ${join(work, 'htpasswd')}`,
      'http:',
      `  addr: ${host}`,
      '',
    ].join('\n'),
  );
  privateRegistry = spawnDaemon('/usr/bin/docker-registry', ['serve', config], {
    logFile: join(work, 'registry.log'),
  });
  await waitFor('private registry (401)', async () => (await fetch(`http://${host}/v2/`)).status === 401, {
    daemon: privateRegistry,
  });
  const anonymous = await fetch(`http://${host}/v2/${signed.name}/manifests/${signed.digest}`);
  if (anonymous.status !== 401) throw new Error(`registry does not require auth (${anonymous.status})`);
  // containerd reaches it over plain HTTP; it pulls with the credentials the kubelet gave it.
  const hostsDir = join(lab().containerd.dir, 'certs.d', host);
  mkdirSync(hostsDir, { recursive: true });
  writeFileSync(
    join(hostsDir, 'hosts.toml'),
    `server = "http://${host}"\n\n[host."http://${host}"]\n  capabilities = ["pull", "resolve"]\n`,
  );
  for (const image of [signed, unsigned]) {
    const pulled = await lab().cri.pullImage({
      image: { image: image.digestRef },
      auth: { username: USER, password: PASSWORD },
    });
    imageIds.set(image.digest, pulled.image_ref);
  }
  // The kubelet's credential provider plugin written for the test, and its config.
  const binDir = join(work, 'plugins');
  mkdirSync(binDir);
  writeFileSync(
    join(binDir, 'test-credential-provider'),
    [
      '#!/bin/sh',
      'cat >> "$REQUEST_LOG"',
      'echo >> "$REQUEST_LOG"',
      `printf '{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse","cacheKeyType":"Registry","cacheDuration":"5m","auth":{"%s":{"username":"%s","password":"%s"}}}' "$REGISTRY" "$PULL_USER" "$PULL_PASSWORD"`,
      '',
    ].join('\n'),
  );
  chmodSync(join(binDir, 'test-credential-provider'), 0o755);
  writeFileSync(
    join(work, 'credential-providers.yaml'),
    [
      'apiVersion: kubelet.config.k8s.io/v1',
      'kind: CredentialProviderConfig',
      'providers:',
      '  - name: test-credential-provider',
      `    matchImages: ["${host}"]`,
      '    defaultCacheDuration: "1m"',
      '    apiVersion: credentialprovider.kubelet.k8s.io/v1',
      '    env:',
      `      - {name: REQUEST_LOG, value: "${join(work, 'plugin-requests.log')}"}`,
      `      - {name: REGISTRY, value: "${host}"}`,
      `      - {name: PULL_USER, value: "${USER}"}`,
      `      - {name: PULL_PASSWORD, value: "${PASSWORD}"}`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(work, 'docker-config.json'),
    JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } } }),
  );
});

test.after.always(async () => {
  await privateRegistry?.stop();
  await disposeStorage?.();
  rmSync(work, { recursive: true, force: true });
});

/** Starts criguard with an empty state dir and `nodeCredentials`; creates a container of each image. */
async function createWith(nodeCredentials: object) {
  const dir = join(work, randomUUID());
  mkdirSync(dir);
  const policy = join(dir, 'policy.json');
  writePolicy(policy, {
    defaultAdmissionRule: {
      evaluationMode: 'REQUIRE_ATTESTATION',
      enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      requireAttestationsBy: ['ci'],
    },
    attestors: [attestor('ci', [key])],
  });
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ nodeCredentials }));
  const auditLog = join(dir, 'audit.jsonl');
  // A container started behind criguard's back (before it was installed): re-validation checks it.
  const early = podSandboxConfig(lab(), 'default');
  const { pod_sandbox_id: earlyPod } = await lab().cri.runPodSandbox({ config: early });
  const { container_id: earlyId } = await lab().cri.createContainer({
    pod_sandbox_id: earlyPod,
    config: {
      metadata: { name: 'early' },
      image: { image: imageIds.get(signed.digest)! },
      command: ['/bin/sleep', '3600'],
      log_path: 'e.log',
    },
    sandbox_config: early,
  });
  await lab().cri.startContainer({ container_id: earlyId });
  const criguard = await startCriguard({
    upstream: lab().containerd.socket,
    extraArgs: [
      '--config',
      config,
      '--policy',
      policy,
      '--state-dir',
      join(dir, 'state'),
      '--audit-log',
      auditLog,
      '--revalidate-interval',
      '1',
      '--verify-timeout',
      '10',
    ],
  });
  const cri = createCriClient(criguard.socket, { deadlineMs: 60_000 });
  const results = new Map<string, { id?: string; error?: string }>();
  try {
    for (const image of [signed, unsigned]) {
      const sandbox = podSandboxConfig(lab(), 'default');
      const { pod_sandbox_id } = await cri.runPodSandbox({ config: sandbox });
      try {
        const { container_id } = await cri.createContainer({
          pod_sandbox_id,
          config: {
            metadata: { name: 'app' },
            image: { image: imageIds.get(image.digest)! },
            command: ['/bin/sleep', '3600'],
            log_path: 'a.log',
          },
          sandbox_config: sandbox,
        });
        await cri.startContainer({ container_id });
        results.set(image.digest, { id: container_id });
      } catch (err) {
        results.set(image.digest, { error: (err as ServiceError).details });
      }
    }
    // Re-validation of the running containers (the first record of the digest).
    let revalidation: Record<string, unknown> | undefined;
    await waitFor(
      'a Revalidation record',
      async () =>
        (revalidation = readAudit(auditLog).find(
          (r) => r.method === 'Revalidation' && (r.digests as string[]).includes(signed.digest),
        )) !== undefined,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const logs = readFileSync(criguard.logFile, 'utf8') + readFileSync(auditLog, 'utf8');
    return { results, revalidation, logs, audit: readAudit(auditLog) };
  } finally {
    cri.close();
    for (const id of [earlyId, ...[...results.values()].map((r) => r.id)]) {
      if (id !== undefined)
        await lab()
          .cri.removeContainer({ container_id: id })
          .catch(() => undefined);
    }
    await criguard.dispose();
  }
}

test.serial(
  'control: without node credentials the private signed image is refused at CreateContainer',
  async (t) => {
    const { results, revalidation } = await createWith({ dockerConfigFiles: [] });
    t.truthy(results.get(signed.digest)?.error, 'denied: the registry refuses anonymous access');
    t.regex(results.get(signed.digest)!.error!, /RegistryUnavailable|SignatureValidationFailed/);
    t.not(revalidation?.outcome, 'allow', 're-validation cannot verify the running container either');
  },
);

test.serial(
  'a kubelet credential provider plugin supplies the credentials (CreateContainer, re-validation)',
  async (t) => {
    const { results, revalidation, logs, audit } = await createWith({
      credentialProviderConfig: join(work, 'credential-providers.yaml'),
      credentialProviderBinDir: join(work, 'plugins'),
      dockerConfigFiles: [],
    });
    t.truthy(results.get(signed.digest)?.id, results.get(signed.digest)?.error);
    t.regex(results.get(unsigned.digest)?.error ?? '', /^SignatureValidationFailed: /);
    t.like(revalidation, { outcome: 'allow' });
    const requests = readFileSync(join(work, 'plugin-requests.log'), 'utf8');
    t.regex(requests, /"kind":"CredentialProviderRequest"/);
    t.true(requests.includes(`"image":"${host}/`), requests);
    t.false(logs.includes(PASSWORD), 'the password is in no log or audit record');
    t.true(audit.some((r) => r.method === 'CreateContainer' && r.outcome === 'allow'));
  },
);

test.serial('the kubelet’s config.json supplies the credentials when no plugin is configured', async (t) => {
  const { results, revalidation, logs } = await createWith({
    dockerConfigFiles: [join(work, 'missing.json'), join(work, 'docker-config.json')],
  });
  t.truthy(results.get(signed.digest)?.id, results.get(signed.digest)?.error);
  t.regex(results.get(unsigned.digest)?.error ?? '', /^SignatureValidationFailed: /);
  t.like(revalidation, { outcome: 'allow' });
  t.false(logs.includes(PASSWORD));
});

test.serial('criguard verify uses the node credentials (tag resolved on the private registry)', async (t) => {
  const dir = join(work, randomUUID());
  mkdirSync(dir);
  writePolicy(join(dir, 'policy.json'), {
    defaultAdmissionRule: {
      evaluationMode: 'REQUIRE_ATTESTATION',
      enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      requireAttestationsBy: ['ci'],
    },
    attestors: [attestor('ci', [key])],
  });
  const args = (nodeCredentials: object) => {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ nodeCredentials }));
    return ['verify', '--config', join(dir, 'config.json'), '--policy', join(dir, 'policy.json'), signed.ref];
  };
  const withPlugin = await criguardCli(
    args({
      credentialProviderConfig: join(work, 'credential-providers.yaml'),
      credentialProviderBinDir: join(work, 'plugins'),
      dockerConfigFiles: [],
    }),
  );
  t.is(withPlugin.code, 0, withPlugin.stdout + withPlugin.stderr);
  t.regex(withPlugin.stdout, /^ALLOW ATTESTATIONS_SATISFIED/);
  const without = await criguardCli(args({ dockerConfigFiles: [] }));
  t.is(without.code, 1, without.stdout);
  t.false((withPlugin.stdout + withPlugin.stderr + without.stdout + without.stderr).includes(PASSWORD));
});
