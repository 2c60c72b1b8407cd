/**
 * Mirrors as containerd resolves them: a second docker-registry mirrors the first (images and signatures
 * copied with skopeo), containerd is configured through hosts.toml, the upstream is stopped. criguard reads
 * the same hosts.toml: signed images are admitted and run, unsigned ones denied, and a mirror missing the
 * signatures denies with a message naming the endpoints tried. The image identity stays the upstream name.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createCriClient, type CriClient } from '../helpers/cri-client.js';
import { runContainer, type RunResult } from '../helpers/run-container.js';
import { startCriguard, type Criguard } from '../helpers/criguard.js';
import { pushImage, PAUSE_NAME, PAUSE_TAG, type PushedImage } from '../helpers/images.js';
import { labReady, podSandboxConfig, useLab } from '../helpers/lab.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
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
const work = mkdtempSync(join(tmpdir(), 'cg-mirror-'));
const auditLog = join(work, 'audit.jsonl');
let key: SigningKey;
let mirror: Registry;
let criguard: Criguard;
let cri: CriClient;
let signed: PushedImage;
let unsigned: PushedImage;
let unsignedOnMirror: PushedImage;

/** skopeo copy of `repo:tag` (or `@digest`) from the upstream to the mirror, digests preserved. */
async function copy(upstream: string, ref: string, tag: string): Promise<void> {
  await execFileAsync('skopeo', [
    'copy',
    '--all',
    '--preserve-digests',
    '--src-tls-verify=false',
    '--dest-tls-verify=false',
    `docker://${upstream}/${ref}`,
    `docker://${mirror.host}/${ref.split(/[@:]/)[0]}:${tag}`,
  ]);
}

test.before(async () => {
  key = await keygen(work, 'ci');
  await labReady(lab);
  const upstream = lab().registry;
  mirror = await startRegistry();
  signed = await pushImage(upstream, { variant: `signed-${randomUUID()}` });
  unsigned = await pushImage(upstream, { variant: `unsigned-${randomUUID()}` });
  unsignedOnMirror = await pushImage(upstream, { variant: `sig-not-mirrored-${randomUUID()}` });
  for (const image of [signed, unsignedOnMirror]) {
    const out = await criguardCli(['sign', '--key', key.keyFile, '--push', image.digestRef]);
    if (out.code !== 0) throw new Error(out.stderr);
  }
  // The mirror gets every image and the pause image, but the signatures of one image only.
  for (const image of [signed, unsigned, unsignedOnMirror])
    await copy(upstream.host, `${image.name}:${image.tag}`, image.tag);
  await copy(upstream.host, `${PAUSE_NAME}:${PAUSE_TAG}`, PAUSE_TAG);
  const sigTag = `${signed.digest.replace(':', '-')}.sig`;
  await copy(upstream.host, `${signed.name}:${sigTag}`, sigTag);
  // containerd: the mirror first, then the upstream (hosts.toml in its config_path).
  writeFileSync(
    join(lab().containerd.dir, 'certs.d', upstream.host, 'hosts.toml'),
    [
      `server = "http://${upstream.host}"`,
      '',
      `[host."http://${mirror.host}"]`,
      '  capabilities = ["pull", "resolve"]',
      '',
    ].join('\n'),
  );
  const policy = join(work, 'policy.json');
  writePolicy(policy, {
    defaultAdmissionRule: {
      evaluationMode: 'REQUIRE_ATTESTATION',
      enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      requireAttestationsBy: ['ci'],
    },
    // The allowlist names the upstream: it must not match through the mirror's host.
    admissionWhitelistPatterns: [{ namePattern: `${mirror.host}/**` }],
    attestors: [attestor('ci', [key])],
  });
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
      policy,
      '--state-dir',
      join(work, 'state'),
      '--audit-log',
      auditLog,
      '--verify-timeout',
      '10',
    ],
  });
  cri = createCriClient(criguard.socket, { deadlineMs: 60_000 });
  await upstream.stop(); // from here on, only the mirror answers
});

test.after.always(async () => {
  cri?.close();
  await criguard?.dispose();
  await mirror?.dispose();
  rmSync(work, { recursive: true, force: true });
});

function pullAndRun(image: string): Promise<RunResult> {
  return runContainer(cri, podSandboxConfig(lab(), 'default'), image, { start: true });
}

test.serial('upstream down: a signed image resolves and verifies through the mirror, and runs', async (t) => {
  const result = await pullAndRun(signed.ref);
  t.truthy(result.id, result.error?.details);
  const pull = readAudit(auditLog).find((r) => r.method === 'PullImage' && r.outcome === 'allow');
  t.truthy(pull);
  t.is(pull!.imageName, `${signed.host}/${signed.name}`, 'the identity is the name the kubelet asked for');
  t.deepEqual(pull!.digests, [signed.digest]);
});

test.serial('upstream down: an unsigned image is denied', async (t) => {
  const result = await pullAndRun(unsigned.ref);
  t.is(result.stage, 'pull');
  t.log(result.error?.details);
  t.regex(result.error?.details ?? '', /^(SignatureValidationFailed|RegistryUnavailable): /);
});

test.serial('a mirror missing the signatures denies, naming the endpoints tried', async (t) => {
  const result = await pullAndRun(unsignedOnMirror.digestRef);
  t.is(result.stage, 'pull');
  const details = result.error!.details;
  t.log(details);
  t.true(details.includes(mirror.host), details);
  t.regex(details, /not found/);
  t.true(details.includes(lab().registry.host), details);
});

test.serial(
  'criguard verify online: resolves the tag through the mirror and decides as the daemon does',
  async (t) => {
    const args = [
      'verify',
      '--config',
      join(work, 'config.json'),
      '--policy',
      join(work, 'policy.json'),
      '--output',
      'json',
    ];
    const ok = await criguardCli([...args, signed.ref]);
    t.is(ok.code, 0, ok.stdout + ok.stderr);
    const allowed = JSON.parse(ok.stdout) as { image: string; outcome: string; verdict: { reason: string } };
    t.is(allowed.image, `${signed.host}/${signed.name}@${signed.digest}`);
    t.is(allowed.verdict.reason, 'ATTESTATIONS_SATISFIED');
    const missing = await criguardCli([...args, unsignedOnMirror.ref]);
    t.is(missing.code, 1);
    const denied = JSON.parse(missing.stdout) as { outcome: string; message: string };
    t.is(denied.outcome, 'deny');
    t.true(denied.message.includes(mirror.host), denied.message);
    const offline = await criguardCli([...args, '--offline', signed.ref]);
    t.is(offline.code, 1, 'a tag cannot be resolved offline');
  },
);
