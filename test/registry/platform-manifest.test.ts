import test from 'ava';
import { RegistryError } from '../../src/registry/errors.js';
import { OCI_INDEX, OCI_MANIFEST } from '../../src/registry/media-types.js';
import {
  acceptedPlatforms,
  choosePlatformEntry,
  createPlatformManifestResolver,
  nodePlatform,
  normalizePlatform,
} from '../../src/registry/platform-manifest.js';
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

test('two manifests for the platform: the first, as containerd takes it, is the one returned', async (t) => {
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
  t.deepEqual(
    await resolver.platformManifest({ name: `${registry!.host}/cg/ambiguous`, digest }, undefined, signal()),
    { digest: a.digest, configDigest: a.configDigest },
  );
});

test('platform_alias_fail: `Linux`/`x86_64` is amd64, as containerd normalises it, and its first match wins', async (t) => {
  const unsigned = await pushImage(registry!, { name: 'cg/alias', variant: 'alias-first' });
  const signed = await pushImage(registry!, { name: 'cg/alias', variant: 'alias-second' });
  const entry = (m: typeof unsigned, platform: object) => ({
    mediaType: OCI_MANIFEST,
    digest: m.digest,
    size: m.manifest.length,
    platform,
  });
  const body = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        entry(unsigned, { os: 'Linux', architecture: 'x86_64' }),
        entry(signed, { os: 'linux', architecture: 'amd64' }),
      ],
    }),
  );
  const digest = await pushManifest(registry!, 'cg/alias', 'alias', body, OCI_INDEX);
  const resolver = createPlatformManifestResolver(client, { os: 'linux', architecture: 'amd64' });
  t.deepEqual(
    await resolver.platformManifest({ name: `${registry!.host}/cg/alias`, digest }, undefined, signal()),
    { digest: unsigned.digest, configDigest: unsigned.configDigest },
  );
});

test('platforms are normalised as containerd does', (t) => {
  const n = (os: string, architecture: string, variant?: string) =>
    normalizePlatform({ os, architecture, variant });
  t.deepEqual(n('Linux', 'x86_64'), { os: 'linux', architecture: 'amd64', variant: '' });
  t.deepEqual(n('linux', 'X86-64', 'v1'), { os: 'linux', architecture: 'amd64', variant: '' });
  t.deepEqual(n('linux', 'amd64', 'v3'), { os: 'linux', architecture: 'amd64', variant: 'v3' });
  t.deepEqual(n('LINUX', 'aarch64', 'v8'), { os: 'linux', architecture: 'arm64', variant: '' });
  t.deepEqual(n('linux', 'arm64', '9'), { os: 'linux', architecture: 'arm64', variant: 'v9' });
  t.deepEqual(n('linux', 'armhf'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  t.deepEqual(n('linux', 'arm'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  t.deepEqual(n('linux', 'arm', '6'), { os: 'linux', architecture: 'arm', variant: 'v6' });
  t.deepEqual(n('linux', 'i386', 'x'), { os: 'linux', architecture: '386', variant: '' });
  t.deepEqual(n('', 'amd64'), { os: 'linux', architecture: 'amd64', variant: '' });
  t.deepEqual(n('MacOS', 'arm64'), { os: 'darwin', architecture: 'arm64', variant: '' });
  t.deepEqual(normalizePlatform({ os: 7, architecture: null }), {
    os: 'linux',
    architecture: '',
    variant: '',
  });
});

test('containerd’s choice: the best accepted platform first, index order among equals, no-platform last', (t) => {
  const amd64 = acceptedPlatforms({ os: 'linux', architecture: 'amd64' });
  const e = (digest: string, platform?: object | null) => ({
    digest,
    ...(platform === undefined ? {} : { platform }),
  });
  t.is(
    choosePlatformEntry(
      [e('a', { os: 'linux', architecture: '386' }), e('b', { os: 'linux', architecture: 'amd64' })],
      amd64,
    )?.digest,
    'b',
    'amd64 before 386',
  );
  t.is(
    choosePlatformEntry([e('a', { os: 'linux', architecture: '386' })], amd64)?.digest,
    'a',
    '386 runs on amd64',
  );
  t.is(choosePlatformEntry([e('a'), e('b', { os: 'linux', architecture: 'x86_64' })], amd64)?.digest, 'b');
  t.is(choosePlatformEntry([e('a', null)], amd64)?.digest, 'a', 'no platform: a candidate, last');
  t.is(choosePlatformEntry([e('a', { os: 'windows', architecture: 'amd64' })], amd64), undefined);
  t.is(
    choosePlatformEntry([e('a', { os: 'linux', architecture: 'amd64', variant: 'v3' })], amd64),
    undefined,
  );
  const arm64 = acceptedPlatforms({ os: 'linux', architecture: 'arm64' });
  t.is(
    choosePlatformEntry(
      [
        e('a', { os: 'linux', architecture: 'arm', variant: 'v6' }),
        e('b', { os: 'linux', architecture: 'arm', variant: 'v7' }),
      ],
      arm64,
    )?.digest,
    'b',
    'arm64 runs arm/v7 before arm/v6',
  );
  t.is(
    choosePlatformEntry([e('a', { os: 'linux', architecture: 'aarch64', variant: 'v8' })], arm64)?.digest,
    'a',
  );
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

test('readOnly (policy simulate): persisted mappings are used, new ones never written', async (t) => {
  const { mkdtempSync, readFileSync, rmSync, existsSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const tmp = mkdtempSync(join(tmpdir(), 'cgpm-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const path = join(tmp, 'platforms.json');
  const platform = { os: 'linux', architecture: 'amd64' };
  const known = await pushIndex(registry!, { name: 'cg/ro-known', variant: 'ro-known' });
  const fresh = await pushIndex(registry!, { name: 'cg/ro-fresh', variant: 'ro-fresh' });
  const knownImage = { name: `${known.host}/${known.name}`, digest: known.digest };
  const first = await createPlatformManifestResolver(client, platform, path).platformManifest(
    knownImage,
    undefined,
    signal(),
  );
  const before = readFileSync(path);
  const reader = createPlatformManifestResolver(client, platform, path, undefined, true);
  t.truthy(
    await reader.platformManifest(
      { name: `${fresh.host}/${fresh.name}`, digest: fresh.digest },
      undefined,
      signal(),
    ),
  );
  t.deepEqual(readFileSync(path), before, 'the new mapping is not written');
  const offline = {
    getManifest: () => Promise.reject(new RegistryError('CG_ERR_REGISTRY_DENIED', 'no credentials')),
  } as unknown as Parameters<typeof createPlatformManifestResolver>[0];
  t.deepEqual(
    await createPlatformManifestResolver(offline, platform, path, undefined, true).platformManifest(
      knownImage,
      undefined,
      signal(),
    ),
    first,
    'the persisted one is used',
  );
  const elsewhere = join(tmp, 'sub', 'platforms.json');
  await createPlatformManifestResolver(client, platform, elsewhere, undefined, true).platformManifest(
    knownImage,
    undefined,
    signal(),
  );
  t.false(existsSync(join(tmp, 'sub')), 'no directory is created');
});
