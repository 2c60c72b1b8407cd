import test from 'ava';
import { RegistryError } from '../../src/registry/errors.js';
import { OCI_INDEX, OCI_MANIFEST } from '../../src/registry/media-types.js';
import { createPlatformManifestResolver, nodePlatform } from '../../src/registry/platform-manifest.js';
import { createRegistryClient } from '../../src/registry/registry-client.js';
import { pushImage, pushIndex, pushManifest } from '../helpers/images.js';
import { startRegistry, type Registry } from '../helpers/registry.js';

let registry: Registry | undefined;
test.before(async () => {
  registry = await startRegistry();
});
test.after.always(async () => {
  await registry?.dispose();
});
const client = createRegistryClient({ timeoutMs: 20_000 });
test.after.always(() => client.close());
const signal = () => new AbortController().signal;

test('finds the manifest for the node platform among all entries, with its config digest', async (t) => {
  const index = await pushIndex(registry!, {
    name: 'cg/multi',
    variant: 'multi',
    architectures: ['arm64', 'amd64'],
  });
  const resolver = createPlatformManifestResolver(client, { os: 'linux', architecture: 'amd64' });
  const amd64 = index.manifests.find((m) => m.platform.architecture === 'amd64')!;
  t.deepEqual(
    await resolver.platformManifest(
      { name: `${index.host}/${index.name}`, digest: index.digest },
      undefined,
      signal(),
    ),
    {
      digest: amd64.digest,
      configDigest: amd64.configDigest,
    },
  );
  const s390x = createPlatformManifestResolver(client, { os: 'linux', architecture: 's390x' });
  t.is(
    await s390x.platformManifest(
      { name: `${index.host}/${index.name}`, digest: index.digest },
      undefined,
      signal(),
    ),
    undefined,
  );
});

test('a single-platform manifest is not an index: nothing to resolve', async (t) => {
  const image = await pushImage(registry!, { name: 'cg/single', variant: 'single' });
  const resolver = createPlatformManifestResolver(client);
  t.is(
    await resolver.platformManifest(
      { name: `${image.host}/${image.name}`, digest: image.digest },
      undefined,
      signal(),
    ),
    undefined,
  );
});

test('ambiguous_platform_index_fail: two different manifests for the platform are refused', async (t) => {
  const a = await pushImage(registry!, { name: 'cg/ambiguous', variant: 'a' });
  const b = await pushImage(registry!, { name: 'cg/ambiguous', variant: 'b' });
  const platform = { os: 'linux', architecture: 'amd64' };
  const body = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [a, b].map((m) => ({
        mediaType: OCI_MANIFEST,
        digest: m.digest,
        size: m.manifest.length,
        platform,
      })),
    }),
  );
  const digest = await pushManifest(registry!, 'cg/ambiguous', 'both', body, OCI_INDEX);
  const resolver = createPlatformManifestResolver(client, platform);
  const err = await t.throwsAsync<RegistryError>(
    resolver.platformManifest({ name: `${registry!.host}/cg/ambiguous`, digest }, undefined, signal()),
  );
  t.is(err.code, 'CG_ERR_REGISTRY_PROTOCOL');
});

test('the node platform maps Node.js architectures to OCI names', (t) => {
  t.deepEqual(nodePlatform('x64'), { os: 'linux', architecture: 'amd64' });
  t.deepEqual(nodePlatform('arm64'), { os: 'linux', architecture: 'arm64' });
});

test('found mappings survive a restart, so a later look-up needs no registry access', async (t) => {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const tmp = mkdtempSync(join(tmpdir(), 'cgpm-'));
  const { rmSync } = await import('node:fs');
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const path = join(tmp, 'platforms.json');
  const index = await pushIndex(registry!, { name: 'cg/persist', variant: 'persist' });
  const image = { name: `${index.host}/${index.name}`, digest: index.digest };
  const platform = { os: 'linux', architecture: 'amd64' };
  const first = await createPlatformManifestResolver(client, platform, path).platformManifest(
    image,
    undefined,
    signal(),
  );
  const offline = {
    getManifest: () => Promise.reject(new RegistryError('CG_ERR_REGISTRY_DENIED', 'no credentials')),
  } as unknown as Parameters<typeof createPlatformManifestResolver>[0];
  t.deepEqual(
    await createPlatformManifestResolver(offline, platform, path).platformManifest(
      image,
      undefined,
      signal(),
    ),
    first,
  );
});
