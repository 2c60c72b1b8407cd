/**
 * Air-gapped evidence: `criguard attestations export` writes one archive from the registry; the registry is
 * then gone; `criguard attestations import` loads it into the node's attestation directory; the node admits
 * the exported images (a single-platform image and a multi-arch index) and denies others.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import { createCriClient } from '../helpers/cri-client.js';
import { startCriguard } from '../helpers/criguard.js';
import { pushImage, pushIndex, type PushedImage } from '../helpers/images.js';
import { labReady, podSandboxConfig, useLab } from '../helpers/lab.js';
import { attestor, criguardCli, keygen, writePolicy, type SigningKey } from '../helpers/signing.js';

const lab = useLab(test);
const work = mkdtempSync(join(tmpdir(), 'cg-airgap-'));
const archive = join(work, 'evidence.json');
let key: SigningKey;
let signed: PushedImage;
let index: PushedImage;
let unsigned: PushedImage;
const imageIds = new Map<string, string>();

test.before(async () => {
  key = await keygen(work, 'ci');
  await labReady(lab);
  signed = await pushImage(lab().registry, { variant: `signed-${randomUUID()}` });
  index = await pushIndex(lab().registry, { variant: `multi-${randomUUID()}` });
  unsigned = await pushImage(lab().registry, { variant: `unsigned-${randomUUID()}` });
  for (const image of [signed, index]) {
    const out = await criguardCli(['sign', '--key', key.keyFile, '--push', image.digestRef]);
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
  ]);
  if (exported.code !== 0) throw new Error(exported.stderr);
  // The images reach the node some other way (here: pulled while the registry was up, as a side-loaded
  // image would be); the pause image too. Then the registry disappears.
  for (const image of [signed, index, unsigned]) {
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

test.serial('a node that never reaches a registry admits imported images and denies others', async (t) => {
  const archived = JSON.parse(readFileSync(archive, 'utf8')) as {
    images: { digest: string; platforms: unknown[] }[];
    attestations: { digest: string }[];
  };
  t.deepEqual(
    archived.images.map((i) => i.digest),
    [signed.digest, index.digest],
  );
  t.true(archived.images[1]!.platforms.length >= 2, 'the index→platform facts are in the archive');
  const dir = join(work, 'attestations');
  const imported = await criguardCli(['attestations', 'import', '--attestations-dir', dir, archive]);
  t.is(imported.code, 0, imported.stderr);
  const again = await criguardCli(['attestations', 'import', '--attestations-dir', dir, archive]);
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
  const criguard = await startCriguard({
    upstream: lab().containerd.socket,
    extraArgs: [
      '--policy',
      policy,
      '--attestations-dir',
      dir,
      '--state-dir',
      join(work, 'state'),
      '--audit-log',
      join(work, 'audit.jsonl'),
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
  const one = await create(signed);
  t.truthy(one.id, one.error);
  const multi = await create(index);
  t.truthy(multi.id, multi.error);
  const other = await create(unsigned);
  t.truthy(other.error);
  t.regex(other.error ?? '', /^(SignatureValidationFailed|RegistryUnavailable): /);
});
