/**
 * The air-gapped manifest store and the evidence archive's manifests: content-addressed bytes, refused
 * whole when any part lies, and the platform resolver reading them before (or instead of) a registry.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AttestationError } from '../../src/attestations/errors.js';
import { parseEvidenceArchive, serializeEvidenceArchive } from '../../src/attestations/evidence-archive.js';
import { createManifestStore, writeStoredManifest } from '../../src/attestations/manifest-store.js';
import { RegistryError } from '../../src/registry/errors.js';
import { createPlatformManifestResolver } from '../../src/registry/platform-manifest.js';

const digestOf = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const json = (v: unknown) => new Uint8Array(Buffer.from(JSON.stringify(v)));

const amd64 = json({ schemaVersion: 2, config: { digest: `sha256:${'a'.repeat(64)}` }, layers: [] });
const arm64 = json({ schemaVersion: 2, config: { digest: `sha256:${'b'.repeat(64)}` }, layers: [] });
const index = json({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [
    { digest: digestOf(arm64), platform: { os: 'linux', architecture: 'arm64' } },
    { digest: digestOf(amd64), platform: { os: 'linux', architecture: 'amd64' } },
  ],
});
const platforms = [
  { digest: digestOf(arm64), os: 'linux', architecture: 'arm64' },
  { digest: digestOf(amd64), os: 'linux', architecture: 'amd64' },
];

function archive(manifests: { digest: string; bytes: Uint8Array }[], listed = platforms): string {
  return serializeEvidenceArchive(
    {
      images: [
        { reference: 'r.example/app:1', name: 'r.example/app', digest: digestOf(index), platforms: listed },
      ],
      attestations: [],
      manifests,
    },
    new Date(0),
  );
}

const all = [index, amd64, arm64].map((bytes) => ({ digest: digestOf(bytes), bytes }));

test('an archive round-trips its manifests', (t) => {
  const parsed = parseEvidenceArchive(archive(all));
  t.deepEqual(
    parsed.manifests.map((m) => [m.digest, Buffer.from(m.bytes).toString()]),
    all.map((m) => [m.digest, Buffer.from(m.bytes).toString()]),
  );
});

test('an archive is refused whole when a manifest lies, a platform is missing or the platforms differ', (t) => {
  const lying = [{ digest: digestOf(index), bytes: amd64 }, ...all.slice(1)];
  t.throws(() => parseEvidenceArchive(archive(lying)), {
    instanceOf: AttestationError,
    message: /do not hash/,
  });
  t.throws(() => parseEvidenceArchive(archive(all.slice(0, 2))), {
    message: /platform linux\/arm64 is missing/,
  });
  t.throws(() => parseEvidenceArchive(archive(all, platforms.slice(1))), { message: /platforms differ/ });
  const forged = [{ ...platforms[0]!, digest: `sha256:${'c'.repeat(64)}` }, platforms[1]!];
  t.throws(() => parseEvidenceArchive(archive(all, forged)), { message: /platforms differ/ });
  t.notThrows(() => parseEvidenceArchive(archive([])), 'an archive without manifests still parses');
});

test('the store returns only bytes that hash to their name; no symlink is followed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-mstore-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await writeStoredManifest(dir, digestOf(index), index);
  const store = createManifestStore(dir);
  t.deepEqual(Buffer.from((await store.get(digestOf(index)))!), Buffer.from(index));
  t.is(await store.get(digestOf(amd64)), undefined, 'absent');
  await t.throwsAsync(writeStoredManifest(dir, digestOf(amd64), arm64), { message: /do not match/ });
  // Tampered on disk after import: ignored, never believed.
  writeFileSync(join(dir, 'manifests', `sha256-${digestOf(arm64).slice(7)}`), amd64);
  t.is(await store.get(digestOf(arm64)), undefined);
  // A symlink to the right bytes elsewhere is not followed.
  mkdirSync(join(dir, 'elsewhere'));
  writeFileSync(join(dir, 'elsewhere', 'm'), amd64);
  symlinkSync(join(dir, 'elsewhere', 'm'), join(dir, 'manifests', `sha256-${digestOf(amd64).slice(7)}`));
  t.is(await store.get(digestOf(amd64)), undefined);
});

test('the platform resolver reads imported manifests first, and offline answers "unknown" for the rest', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-mstore-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const m of all) await writeStoredManifest(dir, m.digest, m.bytes);
  const unreachable = {
    getManifest: () => Promise.reject(new RegistryError('CG_ERR_REGISTRY_UNAVAILABLE', 'no network')),
  };
  const image = { name: 'r.example/app', digest: digestOf(index) };
  const signal = new AbortController().signal;
  const resolver = createPlatformManifestResolver(
    unreachable,
    { os: 'linux', architecture: 'amd64' },
    undefined,
    createManifestStore(dir),
  );
  t.deepEqual(await resolver.platformManifest(image, undefined, signal), {
    digest: digestOf(amd64),
    configDigest: `sha256:${'a'.repeat(64)}`,
  });
  // Without the store, the same look-up needs the registry (and fails with it).
  const bare = createPlatformManifestResolver(unreachable, { os: 'linux', architecture: 'amd64' });
  await t.throwsAsync(bare.platformManifest(image, undefined, signal), { instanceOf: RegistryError });
  // Offline (no client): a manifest missing from the store means no platform known.
  const empty = mkdtempSync(join(tmpdir(), 'cg-mstore-'));
  t.teardown(() => rmSync(empty, { recursive: true, force: true }));
  const offline = createPlatformManifestResolver(
    undefined,
    { os: 'linux', architecture: 'amd64' },
    undefined,
    createManifestStore(empty),
  );
  t.is(await offline.platformManifest(image, undefined, signal), undefined);
});
