/**
 * Mirrors that need their own credentials, as containerd keeps auth per host: a docker-registry with
 * htpasswd basic auth mirrors the upstream (images and signatures copied with skopeo), the upstream is
 * stopped, and criguard (empty state dir, so every signature comes from the mirror) must authenticate to
 * the mirror at CreateContainer with the node's credentials for the mirror's host: from a config.json
 * entry for that host, or from a hosts.toml `header` (a static Authorization, as containerd sends it).
 * Credentials of the upstream host never reach the mirror, and no secret reaches a log or audit record.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ServiceError } from '@grpc/grpc-js';
import { createCriClient } from '../helpers/cri-client.js';
import { startCriguard } from '../helpers/criguard.js';
import { pushImage, type PushedImage } from '../helpers/images.js';
import { labReady, podSandboxConfig, useLab } from '../helpers/lab.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { attestor, criguardCli, keygen, writePolicy, type SigningKey } from '../helpers/signing.js';

const execFileAsync = promisify(execFile);
const lab = useLab(test);
const work = mkdtempSync(join(tmpdir(), 'cg-mirror-creds-'));
const USER = 'mirror-puller';
const PASSWORD = `mirror-pw-${randomUUID()}`;
const BASIC = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
let key: SigningKey;
let mirror: Registry;
let upstreamHost: string;
let signed: PushedImage;
let unsigned: PushedImage;
const imageIds = new Map<string, string>();

test.before(async () => {
  key = await keygen(work, 'ci');
  await labReady(lab);
  const upstream = lab().registry;
  upstreamHost = upstream.host;
  mirror = await startRegistry({ basicAuth: { user: USER, password: PASSWORD } });
  signed = await pushImage(upstream, { variant: `signed-${randomUUID()}` });
  unsigned = await pushImage(upstream, { variant: `unsigned-${randomUUID()}` });
  const out = await criguardCli(['sign', '--key', key.keyFile, '--push', signed.digestRef]);
  if (out.code !== 0) throw new Error(out.stderr);
  const sigTag = `${signed.digest.replace(':', '-')}.sig`;
  for (const [repo, tag] of [
    [signed.name, signed.tag],
    [unsigned.name, unsigned.tag],
    [signed.name, sigTag],
  ] as const) {
    await execFileAsync('skopeo', [
      'copy',
      '--preserve-digests',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      '--dest-creds',
      `${USER}:${PASSWORD}`,
      `docker://${upstream.host}/${repo}:${tag}`,
      `docker://${mirror.host}/${repo}:${tag}`,
    ]);
  }
  const anonymous = await fetch(`${mirror.url}/v2/${signed.name}/manifests/${sigTag}`);
  if (anonymous.status !== 401) throw new Error(`the mirror does not require auth (${anonymous.status})`);
  // The images are on the node already (pulled before criguard was installed), the pause image too.
  for (const image of [signed, unsigned]) {
    const pulled = await lab().cri.pullImage({ image: { image: image.ref } });
    imageIds.set(image.digest, pulled.image_ref);
  }
  await lab().cri.runPodSandbox({ config: podSandboxConfig(lab(), 'default') });
  await upstream.stop(); // from here on, only the mirror answers
});

test.after.always(async () => {
  await mirror?.dispose();
  rmSync(work, { recursive: true, force: true });
});

/**
 * Starts criguard (empty state dir) with `hosts.toml` for the upstream and `docker-config.json` as the
 * node's config.json; creates a container of each image; returns the outcomes and every log written.
 */
async function createWith(hostsToml: string, dockerConfig: object) {
  const dir = join(work, randomUUID());
  mkdirSync(join(dir, 'certs.d', upstreamHost), { recursive: true });
  writeFileSync(join(dir, 'certs.d', upstreamHost, 'hosts.toml'), hostsToml);
  writeFileSync(join(dir, 'docker-config.json'), JSON.stringify(dockerConfig));
  writePolicy(join(dir, 'policy.json'), {
    defaultAdmissionRule: {
      evaluationMode: 'REQUIRE_ATTESTATION',
      enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      requireAttestationsBy: ['ci'],
    },
    attestors: [attestor('ci', [key])],
  });
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      registryHostsDir: join(dir, 'certs.d'),
      nodeCredentials: { dockerConfigFiles: [join(dir, 'docker-config.json')] },
    }),
  );
  const auditLog = join(dir, 'audit.jsonl');
  const criguard = await startCriguard({
    upstream: lab().containerd.socket,
    extraArgs: [
      '--config',
      join(dir, 'config.json'),
      '--policy',
      join(dir, 'policy.json'),
      '--state-dir',
      join(dir, 'state'),
      '--audit-log',
      auditLog,
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
        results.set(image.digest, { id: container_id });
      } catch (err) {
        results.set(image.digest, { error: (err as ServiceError).details });
      }
    }
    const verify = await criguardCli([
      'verify',
      '--config',
      join(dir, 'config.json'),
      '--policy',
      join(dir, 'policy.json'),
      signed.ref,
    ]);
    const logs = [
      readFileSync(criguard.logFile, 'utf8'),
      readFileSync(auditLog, 'utf8'),
      verify.stdout,
      verify.stderr,
    ];
    return { results, verify, logs: logs.join('\n') };
  } finally {
    cri.close();
    for (const r of results.values())
      if (r.id !== undefined)
        await lab()
          .cri.removeContainer({ container_id: r.id })
          .catch(() => undefined);
    await criguard.dispose();
  }
}

function mirrorFirst(extra: string[] = []): string {
  return [
    `server = "http://${upstreamHost}"`,
    '',
    `[host."http://${mirror.host}"]`,
    '  capabilities = ["pull", "resolve"]',
    ...extra,
    '',
  ].join('\n');
}

test.serial('control: a mirror asked anonymously denies, and the refusal names it', async (t) => {
  const { results, verify } = await createWith(mirrorFirst(), { auths: {} });
  const error = results.get(signed.digest)?.error ?? '';
  t.log(error);
  t.regex(error, /^(RegistryUnavailable|SignatureValidationFailed): /);
  t.true(error.includes(`${mirror.host} (denied)`), error);
  t.is(verify.code, 1, verify.stdout);
});

test.serial('the node’s config.json entry for the mirror’s host authenticates to the mirror', async (t) => {
  const { results, verify, logs } = await createWith(mirrorFirst(), {
    auths: { [mirror.host]: { auth: BASIC } },
  });
  t.truthy(results.get(signed.digest)?.id, results.get(signed.digest)?.error);
  // The unsigned image: the mirror (authenticated) has no signature, the upstream is down.
  t.regex(results.get(unsigned.digest)?.error ?? '', new RegExp(`tried ${mirror.host} \\(not found\\)`));
  t.is(verify.code, 0, verify.stdout + verify.stderr);
  t.regex(verify.stdout, /^ALLOW ATTESTATIONS_SATISFIED/);
  t.false(logs.includes(PASSWORD), 'the password is in no log, audit record or output');
  t.false(logs.includes(BASIC));
});

test.serial('credentials of the upstream host are never sent to the mirror', async (t) => {
  // The same user and password, but filed under the upstream: the mirror must not receive them.
  const { results } = await createWith(mirrorFirst(), { auths: { [upstreamHost]: { auth: BASIC } } });
  t.truthy(results.get(signed.digest)?.error, 'denied: the mirror was asked anonymously');
  t.true(results.get(signed.digest)!.error!.includes(`${mirror.host} (denied)`));
});

test.serial(
  'a hosts.toml header (a static Authorization) is sent to the mirror, and never logged',
  async (t) => {
    const { results, verify, logs } = await createWith(
      mirrorFirst(['  [host."http://' + mirror.host + '".header]', `    Authorization = "Basic ${BASIC}"`]),
      { auths: {} },
    );
    t.truthy(results.get(signed.digest)?.id, results.get(signed.digest)?.error);
    // The unsigned image: the mirror (authenticated) has no signature, the upstream is down.
    t.regex(results.get(unsigned.digest)?.error ?? '', new RegExp(`tried ${mirror.host} \\(not found\\)`));
    t.is(verify.code, 0, verify.stdout + verify.stderr);
    t.false(logs.includes(BASIC), 'the header value is in no log, audit record or output');
  },
);
