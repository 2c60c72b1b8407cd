import test from 'ava';
import { createRegistryClient } from '../../src/registry/registry-client.js';
import { RegistryError } from '../../src/registry/errors.js';
import { OCI_INDEX, OCI_MANIFEST } from '../../src/registry/media-types.js';
import { freePort } from '../helpers/daemon.js';
import { pushImage, pushIndex, sha256Digest } from '../helpers/images.js';
import { startRegistry, type Registry } from '../helpers/registry.js';

let registry: Registry | undefined;
test.before(async () => {
  registry = await startRegistry();
});
test.after.always(async () => {
  await registry?.dispose();
});
const reg = (): Registry => {
  if (!registry) throw new Error('registry not started');
  return registry;
};
const client = createRegistryClient({ timeoutMs: 20_000 });
test.after.always(() => client.close());

test('resolve: tag → the manifest digest, media type and size (HEAD)', async (t) => {
  const img = await pushImage(reg(), { name: 'cg/resolve', variant: 'resolve' });
  const got = await client.resolve(img.ref);
  t.deepEqual(got, { digest: img.digest, mediaType: OCI_MANIFEST, size: img.manifest.length });
  t.deepEqual(await client.resolve(img.ref, { verifyContent: true }), got);
  t.deepEqual(await client.resolve(img.digestRef), got);
});

test('resolve: a multi-arch tag resolves to the index digest', async (t) => {
  const idx = await pushIndex(reg(), { name: 'cg/index', variant: 'index' });
  const got = await client.resolve(idx.ref);
  t.is(got.digest, idx.digest);
  t.is(got.mediaType, OCI_INDEX);
});

test('getManifest: exact bytes, digest verified, by tag and by digest', async (t) => {
  const img = await pushImage(reg(), { name: 'cg/get', variant: 'get' });
  const name = `${img.host}/${img.name}`;
  const byTag = await client.getManifest(name, img.tag);
  t.deepEqual(Buffer.from(byTag.bytes), img.manifest);
  t.is(byTag.digest, img.digest);
  const byDigest = await client.getManifest(name, img.digest);
  t.is(byDigest.digest, img.digest);
  t.is(byDigest.mediaType, OCI_MANIFEST);
});

test('getBlob: verified bytes; missing → CG_ERR_REGISTRY_NOT_FOUND', async (t) => {
  const img = await pushImage(reg(), { name: 'cg/blob', variant: 'blob' });
  const name = `${img.host}/${img.name}`;
  const config = await client.getBlob(name, img.configDigest);
  t.is(sha256Digest(config), img.configDigest);
  const err = await t.throwsAsync(client.getBlob(name, sha256Digest(Buffer.from('nope'))), {
    instanceOf: RegistryError,
  });
  t.is(err?.code, 'CG_ERR_REGISTRY_NOT_FOUND');
});

test('missing tag or repository → CG_ERR_REGISTRY_NOT_FOUND', async (t) => {
  const e1 = await t.throwsAsync(client.resolve(`${reg().host}/cg/none:missing`), {
    instanceOf: RegistryError,
  });
  t.is(e1?.code, 'CG_ERR_REGISTRY_NOT_FOUND');
  const e2 = await t.throwsAsync(client.getManifest(`${reg().host}/cg/none`, 'missing'), {
    instanceOf: RegistryError,
  });
  t.is(e2?.code, 'CG_ERR_REGISTRY_NOT_FOUND');
});

test('referrers: distribution 2.8 has no referrers API → undefined', async (t) => {
  const img = await pushImage(reg(), { name: 'cg/referrers', variant: 'referrers' });
  t.is(await client.referrers(`${img.host}/${img.name}`, img.digest, 'application/x-test'), undefined);
});

test('putBlob and putManifest round-trip (idempotent blob upload)', async (t) => {
  const name = `${reg().host}/cg/push`;
  const blob = Buffer.from('{"hello":"world"}');
  const digest = await client.putBlob(name, blob);
  t.is(digest, sha256Digest(blob));
  t.is(await client.putBlob(name, blob), digest);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: blob.length },
      layers: [],
    }),
  );
  const md = await client.putManifest(name, 'v1', manifest, OCI_MANIFEST);
  t.is(md, sha256Digest(manifest));
  t.deepEqual(Buffer.from((await client.getManifest(name, 'v1')).bytes), manifest);
});

test('registry down (connection refused) → CG_ERR_REGISTRY_UNAVAILABLE', async (t) => {
  const port = await freePort();
  const err = await t.throwsAsync(client.resolve(`127.0.0.1:${port}/cg/x:1`), { instanceOf: RegistryError });
  t.is(err?.code, 'CG_ERR_REGISTRY_UNAVAILABLE');
});

test('invalid tags never reach the URL', async (t) => {
  const err = await t.throwsAsync(client.getManifest(`${reg().host}/cg/x`, '../../etc'), {
    instanceOf: RegistryError,
  });
  t.is(err?.code, 'CG_ERR_REGISTRY_PROTOCOL');
});
