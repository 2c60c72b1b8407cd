/**
 * Air-gapped evidence: `criguard attestations export` writes one archive from the registry; the registry is
 * then gone; `criguard attestations import` loads it into the node's attestation directory; the node admits
 * the exported images (a single-platform image, a multi-arch index signed at its digest, and a multi-arch
 * index whose platform manifests only are signed, as `cosign sign --recursive` or per-platform CI jobs do)
 * and denies others. The per-platform case needs the index and platform manifest bytes from the archive:
 * without them the node cannot tell which signed manifest it runs.
 */
import test, { type ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import { createCriClient } from '../helpers/cri-client.js';
import { startCriguard } from '../helpers/criguard.js';
import { pushImage, pushIndex, type PushedImage, type PushedIndex } from '../helpers/images.js';
import { labReady, podSandboxConfig, useLab } from '../helpers/lab.js';
import { attestor, criguardCli, keygen, writePolicy, type SigningKey } from '../helpers/signing.js';

const lab = useLab(test);
const work = mkdtempSync(join(tmpdir(), 'cg-airgap-'));
const archive = join(work, 'evidence.json');
let key: SigningKey;
let signed: PushedImage;
let index: PushedImage;
let unsigned: PushedImage;
let perPlatform: PushedIndex;
let unsignedIndex: PushedIndex;
const imageIds = new Map<string, string>();

test.before(async () => {
  key = await keygen(work, 'ci');
  await labReady(lab);
  signed = await pushImage(lab().registry, { variant: `signed-${randomUUID()}` });
  index = await pushIndex(lab().registry, { variant: `multi-${randomUUID()}` });
  unsigned = await pushImage(lab().registry, { variant: `unsigned-${randomUUID()}` });
  perPlatform = await pushIndex(lab().registry, { variant: `per-platform-${randomUUID()}` });
  unsignedIndex = await pushIndex(lab().registry, { variant: `unsigned-multi-${randomUUID()}` });
  const platformRefs = perPlatform.manifests.map(
    (m) => `${perPlatform.host}/${perPlatform.name}@${m.digest}`,
  );
  for (const ref of [signed.digestRef, index.digestRef, ...platformRefs]) {
    const out = await criguardCli(['sign', '--key', key.keyFile, '--push', ref]);
    if (out.code !== 0) throw new Error(out.stderr);
  }
  writeFileSync(join(work, 'config.json'), JSON.stringify({ nodeCredentials: { dockerConfigFiles: [] } }));
  const exported = await criguardCli([
    'attestations',
    'export',
    '--config',
    join(work, 'config.json'),
    '--output',
    archive,
    signed.ref,
    index.ref,
    perPlatform.ref,
    unsignedIndex.ref,
  ]);
  if (exported.code !== 0) throw new Error(exported.stderr);
  // The images reach the node some other way (here: pulled while the registry was up, as a side-loaded
  // image would be); the pause image too. Then the registry disappears.
  for (const image of [signed, index, unsigned, perPlatform, unsignedIndex]) {
    const pulled = await lab().cri.pullImage({ image: { image: image.ref } });
    imageIds.set(image.digest, pulled.image_ref);
  }
  const warm = podSandboxConfig(lab(), 'default');
  await lab().cri.runPodSandbox({ config: warm });
  await lab().registry.stop();
});

test.after.always(() => rmSync(work, { recursive: true, force: true }));

test.serial('an invalid archive imports nothing', async (t) => {
  const dir = join(work, `bad-${randomUUID()}`);
  const text = readFileSync(archive, 'utf8').replace(
    '"attestations": [',
    '"attestations": [{"digest":"nope"},',
  );
  writeFileSync(join(work, 'bad.json'), text);
  const res = await criguardCli([
    'attestations',
    'import',
    '--attestations-dir',
    dir,
    join(work, 'bad.json'),
  ]);
  t.is(res.code, 2, res.stderr);
  t.false(existsSync(dir));
});

/** Imports `file` into a fresh directory and starts criguard on it, offline; returns a CreateContainer probe. */
async function offlineNode(
  t: ExecutionContext,
  file: string,
): Promise<{
  create: (image: PushedImage) => Promise<{ id?: string; error?: string }>;
  dir: string;
  policy: string;
}> {
  const dir = join(work, `attestations-${randomUUID()}`);
  const imported = await criguardCli(['attestations', 'import', '--attestations-dir', dir, file]);
  t.is(imported.code, 0, imported.stderr);
  const again = await criguardCli(['attestations', 'import', '--attestations-dir', dir, file]);
  t.is(again.code, 0, 'importing twice is harmless');
  const policy = join(work, 'policy.json');
  writePolicy(policy, {
    defaultAdmissionRule: {
      evaluationMode: 'REQUIRE_ATTESTATION',
      enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      requireAttestationsBy: ['ci'],
    },
    attestors: [attestor('ci', [key])],
  });
  const state = join(work, `state-${randomUUID()}`);
  const criguard = await startCriguard({
    upstream: lab().containerd.socket,
    extraArgs: [
      '--policy',
      policy,
      '--attestations-dir',
      dir,
      '--state-dir',
      state,
      '--audit-log',
      join(state, 'audit.jsonl'),
      '--verify-timeout',
      '10',
    ],
  });
  const cri = createCriClient(criguard.socket, { deadlineMs: 60_000 });
  t.teardown(async () => {
    cri.close();
    await criguard.dispose();
  });
  const create = async (image: PushedImage): Promise<{ id?: string; error?: string }> => {
    const config = podSandboxConfig(lab(), 'default');
    const { pod_sandbox_id } = await cri.runPodSandbox({ config });
    try {
      const { container_id } = await cri.createContainer({
        pod_sandbox_id,
        config: {
          metadata: { name: 'app' },
          image: { image: imageIds.get(image.digest)! },
          command: ['/bin/sleep', '3600'],
          log_path: 'a.log',
        },
        sandbox_config: config,
      });
      return { id: container_id };
    } catch (err) {
      return { error: (err as ServiceError).details };
    }
  };
  return { create, dir, policy };
}

test.serial('an archive whose manifest bytes do not match their digest imports nothing', async (t) => {
  const dir = join(work, `tampered-${randomUUID()}`);
  const doc = JSON.parse(readFileSync(archive, 'utf8')) as { manifests: { digest: string; bytes: string }[] };
  const first = doc.manifests[0]!;
  const text = Buffer.from(first.bytes, 'base64').toString('utf8');
  first.bytes = Buffer.from(text.replace('"schemaVersion":2', '"schemaVersion": 2')).toString('base64');
  writeFileSync(join(work, 'tampered.json'), JSON.stringify(doc));
  const res = await criguardCli([
    'attestations',
    'import',
    '--attestations-dir',
    dir,
    join(work, 'tampered.json'),
  ]);
  t.is(res.code, 2, res.stderr);
  t.regex(res.stderr, /do not hash to sha256:/);
  t.false(existsSync(dir));
});

test.serial('a node that never reaches a registry admits imported images and denies others', async (t) => {
  const archived = JSON.parse(readFileSync(archive, 'utf8')) as {
    images: { digest: string; platforms: { digest: string }[] }[];
    attestations: { digest: string }[];
    manifests: { digest: string }[];
  };
  t.deepEqual(
    archived.images.map((i) => i.digest),
    [signed.digest, index.digest, perPlatform.digest, unsignedIndex.digest],
  );
  t.true(archived.images[1]!.platforms.length >= 2, 'the index→platform facts are in the archive');
  const carried = new Set(archived.manifests.map((m) => m.digest));
  for (const image of archived.images) {
    t.true(carried.has(image.digest), 'the index (or manifest) bytes are in the archive');
    for (const p of image.platforms) t.true(carried.has(p.digest), 'every platform manifest too');
  }
  t.false(
    archived.attestations.some((a) => a.digest === perPlatform.digest),
    'the per-platform index itself carries no signature',
  );
  const { create, dir, policy } = await offlineNode(t, archive);
  const one = await create(signed);
  t.truthy(one.id, one.error);
  const multi = await create(index);
  t.truthy(multi.id, multi.error);
  const platformSigned = await create(perPlatform);
  t.truthy(platformSigned.id, platformSigned.error);
  const other = await create(unsigned);
  t.truthy(other.error);
  t.regex(other.error ?? '', /^(SignatureValidationFailed|RegistryUnavailable): /);
  const otherIndex = await create(unsignedIndex);
  t.truthy(otherIndex.error, 'an imported index without signatures is still denied');
  // criguard verify, offline, decides the same from the same directory (the imported manifests too).
  const verify = (image: PushedImage) =>
    criguardCli(['verify', '--offline', '--policy', policy, '--attestations-dir', dir, image.digestRef]);
  const verified = await verify(perPlatform);
  t.is(verified.code, 0, verified.stdout + verified.stderr);
  t.is((await verify(unsignedIndex)).code, 1);
});

test.serial(
  'without the manifest bytes (an archive of the earlier format) a per-platform-signed index is denied offline',
  async (t) => {
    const doc = JSON.parse(readFileSync(archive, 'utf8')) as { manifests?: unknown };
    delete doc.manifests;
    const file = join(work, 'no-manifests.json');
    writeFileSync(file, JSON.stringify(doc));
    const { create } = await offlineNode(t, file);
    const platformSigned = await create(perPlatform);
    t.truthy(platformSigned.error, 'the node cannot know which platform manifest the index runs');
    const multi = await create(index);
    t.truthy(multi.id, `an index signed at its own digest needs no manifest: ${multi.error ?? ''}`);
  },
);
