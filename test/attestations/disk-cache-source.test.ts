import test from 'ava';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createDiskCacheSource,
  diskCacheWritesSettled,
  ENSURE_DIR_EVERY_MS,
  PRUNE_LISTING_EVERY,
} from '../../src/attestations/disk-cache-source.js';
import type { AttestationSource } from '../../src/attestations/attestation-source.js';
import { RegistryError } from '../../src/registry/errors.js';
import type { AttestationRecord } from '../../src/verify/attestation.js';

const D = `sha256:${'b'.repeat(64)}`;
const NAME = 'registry.example.com/org/app';
const REC: AttestationRecord = {
  payload: Uint8Array.from([1, 2, 3]),
  signatures: [{ signature: Uint8Array.from([9, 8]) }],
  source: 'x',
};

async function setup(t: { teardown: (fn: () => Promise<void>) => void }) {
  const base = await mkdtemp(join(tmpdir(), 'criguard-cache-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  let answer: AttestationRecord[] | Error = [REC];
  let now = 1_000_000;
  const inner: AttestationSource = {
    fetch: async () => {
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  const events: string[] = [];
  const dir = join(base, 'attestations');
  const cache = createDiskCacheSource({
    source: inner,
    dir,
    now: () => now,
    maxAgeMs: 10_000,
    onEvent: (e) => events.push(e),
  });
  return {
    dir,
    cache,
    events,
    set: (a: AttestationRecord[] | Error) => (answer = a),
    advance: (ms: number) => (now += ms),
  };
}

const unavailable = () => new RegistryError('CG_ERR_REGISTRY_UNAVAILABLE', 'down');

test('fresh results are returned and cached (0700 dir, 0600 file); registry down → cached records', async (t) => {
  const s = await setup(t);
  t.deepEqual(await s.cache.fetch({ name: NAME, digest: D }, undefined), [REC]);
  await diskCacheWritesSettled(); // the copy is written after the answer
  t.is((await stat(s.dir)).mode & 0o777, 0o700);
  const [file] = await readdir(s.dir);
  t.is((await stat(join(s.dir, file!))).mode & 0o777, 0o600);
  s.set(unavailable());
  const got = await s.cache.fetch({ name: NAME, digest: D }, undefined);
  t.deepEqual(Buffer.from(got[0]!.payload), Buffer.from(REC.payload));
  t.deepEqual(Buffer.from(got[0]!.signatures[0]!.signature), Buffer.from([9, 8]));
  t.deepEqual(s.events, ['served-stale']);
});

test('other errors are not masked; no entry → the original error', async (t) => {
  const s = await setup(t);
  await s.cache.fetch({ name: NAME, digest: D }, undefined);
  s.set(new RegistryError('CG_ERR_REGISTRY_DENIED', 'no'));
  t.is(
    (await t.throwsAsync(s.cache.fetch({ name: NAME, digest: D }, undefined), { instanceOf: RegistryError }))
      ?.code,
    'CG_ERR_REGISTRY_DENIED',
  );
  s.set(unavailable());
  t.is(
    (
      await t.throwsAsync(s.cache.fetch({ name: 'registry.example.com/org/other', digest: D }, undefined), {
        instanceOf: RegistryError,
      })
    )?.code,
    'CG_ERR_REGISTRY_UNAVAILABLE',
  );
});

test('entries past max age are not served', async (t) => {
  const s = await setup(t);
  await s.cache.fetch({ name: NAME, digest: D }, undefined);
  s.advance(10_001);
  s.set(unavailable());
  t.is(
    (await t.throwsAsync(s.cache.fetch({ name: NAME, digest: D }, undefined), { instanceOf: RegistryError }))
      ?.code,
    'CG_ERR_REGISTRY_UNAVAILABLE',
  );
});

test('a fresh empty answer replaces the entry', async (t) => {
  const s = await setup(t);
  await s.cache.fetch({ name: NAME, digest: D }, undefined);
  s.set([]);
  t.deepEqual(await s.cache.fetch({ name: NAME, digest: D }, undefined), []);
  s.set(unavailable());
  await t.throwsAsync(s.cache.fetch({ name: NAME, digest: D }, undefined), { instanceOf: RegistryError });
});

test('corrupt_entry_fail: a corrupt entry is discarded, never served', async (t) => {
  const s = await setup(t);
  await s.cache.fetch({ name: NAME, digest: D }, undefined);
  await diskCacheWritesSettled();
  const [file] = await readdir(s.dir);
  await writeFile(join(s.dir, file!), '{"version":1,"name":"x"');
  s.set(unavailable());
  await t.throwsAsync(s.cache.fetch({ name: NAME, digest: D }, undefined), { instanceOf: RegistryError });
  t.true(s.events.includes('corrupt-discarded'));
  t.deepEqual(await readdir(s.dir), []);
});

test('an anonymous empty answer neither erases nor hides what an authorised fetch cached', async (t) => {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { createDiskCacheSource } = await import('../../src/attestations/disk-cache-source.js');
  const dir = mkdtempSync(join(tmpdir(), 'cgdc-'));
  const { rmSync } = await import('node:fs');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const digest = `sha256:${'4'.repeat(64)}`;
  const record = { payload: new Uint8Array([1, 2, 3]), signatures: [{ signature: new Uint8Array([9]) }] };
  let answer: (typeof record)[] = [record];
  const source = { fetch: async () => answer };
  const authorised = createDiskCacheSource({ source, dir });
  const anonymous = createDiskCacheSource({ source, dir, emptyIsAuthoritative: false });
  t.is((await authorised.fetch({ name: 'r.example/app', digest }, undefined)).length, 1);
  answer = [];
  t.is(
    (await anonymous.fetch({ name: 'r.example/app', digest }, undefined)).length,
    1,
    'the cached signature is served',
  );
  t.is(
    (await authorised.fetch({ name: 'r.example/app', digest }, undefined)).length,
    0,
    'an authorised empty answer is the truth',
  );
  t.is(
    (await anonymous.fetch({ name: 'r.example/app', digest }, undefined)).length,
    0,
    '…and it replaced the entry',
  );
});

test('deleted signature: an anonymous empty answer from a registry that serves the image withdraws the cached entry', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'criguard-cache-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const dir = join(base, 'attestations');
  let answer: AttestationRecord[] | Error = [REC];
  const source: AttestationSource = {
    fetch: async () => {
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  const probes: string[] = [];
  let serves: boolean | Error = true;
  const events: string[] = [];
  const anonymous = createDiskCacheSource({
    source,
    dir,
    onEvent: (e) => events.push(e),
    emptyIsAuthoritative: async (name, digest) => {
      probes.push(`${name}@${digest}`);
      if (serves instanceof Error) throw serves;
      return serves;
    },
  });
  t.is((await anonymous.fetch({ name: NAME, digest: D }, undefined)).length, 1, 'stored');
  t.deepEqual(probes, [], 'a non-empty answer needs no probe');

  answer = [];
  serves = false; // a private repository answering 404 to anonymous requests: not the registry's word
  t.is((await anonymous.fetch({ name: NAME, digest: D }, undefined)).length, 1, 'served from the cache');
  serves = unavailable(); // cannot tell: keep serving
  t.is((await anonymous.fetch({ name: NAME, digest: D }, undefined)).length, 1, 'served from the cache');
  t.deepEqual(events, ['served-stale', 'served-stale']);

  serves = true; // the registry serves the image, and has no signature for it any more
  t.deepEqual(await anonymous.fetch({ name: NAME, digest: D }, undefined), []);
  t.deepEqual(await readdir(dir), [], 'the entry is gone');
  t.is(events.at(-1), 'withdrawn');
  answer = unavailable();
  await t.throwsAsync(
    anonymous.fetch({ name: NAME, digest: D }, undefined),
    { message: /down/ },
    'an outage afterwards finds nothing cached',
  );
  t.deepEqual(probes, [`${NAME}@${D}`, `${NAME}@${D}`, `${NAME}@${D}`]);
});

test('without a cached entry an anonymous empty answer asks no probe', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'criguard-cache-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  let probes = 0;
  const cache = createDiskCacheSource({
    source: { fetch: async () => [] },
    dir: join(base, 'attestations'),
    emptyIsAuthoritative: async () => {
      probes += 1;
      return true;
    },
  });
  t.deepEqual(await cache.fetch({ name: NAME, digest: D }, undefined), []);
  t.is(probes, 0);
});

test('readOnly (policy simulate): serves the daemon’s entries, never writes, withdraws or discards one', async (t) => {
  const s = await setup(t);
  await s.cache.fetch({ name: NAME, digest: D }, undefined); // the daemon's cache holds an entry
  await diskCacheWritesSettled(); // written in the background
  const { readFile } = await import('node:fs/promises');
  const [file] = await readdir(s.dir);
  const path = join(s.dir, file!);
  const before = await readFile(path);
  const mtime = (await stat(path)).mtimeMs;
  let answer: AttestationRecord[] | Error = unavailable();
  const reader = createDiskCacheSource({
    source: {
      fetch: async () => {
        if (answer instanceof Error) throw answer;
        return answer;
      },
    },
    dir: s.dir,
    now: () => 1_000_000, // the clock the entry was stored under
    readOnly: true,
    emptyIsAuthoritative: async () => true,
  });
  t.deepEqual(
    Buffer.from((await reader.fetch({ name: NAME, digest: D }, undefined))[0]!.payload),
    Buffer.from(REC.payload),
    'served',
  );
  answer = [{ ...REC, payload: Uint8Array.from([7]) }];
  await reader.fetch({ name: NAME, digest: D }, undefined); // a fresh answer is not written over it
  await diskCacheWritesSettled();
  answer = [];
  t.deepEqual(
    await reader.fetch({ name: NAME, digest: D }, undefined),
    [],
    'a definitive "gone" is believed for this run',
  );
  t.deepEqual(await readFile(path), before, 'but the entry is not withdrawn');
  await writeFile(path, '{"corrupt"');
  answer = unavailable();
  await t.throwsAsync(reader.fetch({ name: NAME, digest: D }, undefined), { instanceOf: RegistryError });
  t.deepEqual(await readdir(s.dir), [file], 'a corrupt entry is ignored, not deleted');
  t.true((await stat(path)).mtimeMs >= mtime);
  const other = createDiskCacheSource({
    source: { fetch: async () => [REC] },
    dir: join(s.dir, 'never-created'),
    readOnly: true,
  });
  await other.fetch({ name: NAME, digest: D }, undefined);
  await diskCacheWritesSettled();
  await t.throwsAsync(stat(join(s.dir, 'never-created')), { code: 'ENOENT' });
});

test('one cache forwards each fetch’s credentials to its source, and keeps the source’s overlap flag', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'criguard-cache-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const seen: (string | undefined)[] = [];
  const cache = createDiskCacheSource({
    source: {
      overlap: true,
      fetch: async (_image, credentials) => {
        seen.push(credentials?.username);
        return [REC];
      },
    },
    dir: join(base, 'attestations'),
  });
  t.true(cache.overlap);
  await cache.fetch({ name: NAME, digest: D }, { username: 'kubelet', password: 'p' });
  await cache.fetch({ name: NAME, digest: D }, undefined);
  await cache.fetch({ name: NAME, digest: D }, { username: 'other', password: 'p' });
  t.deepEqual(seen, ['kubelet', undefined, 'other']);
  t.falsy(createDiskCacheSource({ source: { fetch: async () => [] }, dir: base }).overlap);
  await diskCacheWritesSettled();
});

test('withoutCredentials: a denial falls back to the entry only for fetches without credentials', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'criguard-cache-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  let answer: AttestationRecord[] | Error = [REC];
  const cache = createDiskCacheSource({
    source: {
      fetch: async () => {
        if (answer instanceof Error) throw answer;
        return answer;
      },
    },
    dir: join(base, 'attestations'),
    fallbackCodes: ['CG_ERR_REGISTRY_UNAVAILABLE'],
    emptyIsAuthoritative: true,
    withoutCredentials: {
      fallbackCodes: ['CG_ERR_REGISTRY_UNAVAILABLE', 'CG_ERR_REGISTRY_DENIED'],
      emptyIsAuthoritative: false,
    },
  });
  const kubelet = { username: 'u', password: 'p' };
  await cache.fetch({ name: NAME, digest: D }, kubelet);
  await diskCacheWritesSettled();
  answer = new RegistryError('CG_ERR_REGISTRY_DENIED', 'denied');
  t.is(
    (await cache.fetch({ name: NAME, digest: D }, undefined)).length,
    1,
    'node credentials denied: cached',
  );
  await t.throwsAsync(
    cache.fetch({ name: NAME, digest: D }, kubelet),
    { is: answer },
    'kubelet denied: rethrown',
  );
  answer = [];
  t.is((await cache.fetch({ name: NAME, digest: D }, undefined)).length, 1, 'anonymous "nothing": cached');
  t.deepEqual(await cache.fetch({ name: NAME, digest: D }, kubelet), [], 'authorised "nothing": believed');
  await diskCacheWritesSettled();
  t.deepEqual(await readdir(join(base, 'attestations')), [], '…and the entry is gone');
});

test('a long-lived cache makes its directory again (0700) when it was removed or loosened', async (t) => {
  const s = await setup(t);
  await s.cache.fetch({ name: NAME, digest: D }, undefined);
  await diskCacheWritesSettled();
  await rm(s.dir, { recursive: true, force: true });
  await s.cache.fetch({ name: NAME, digest: D }, undefined);
  await diskCacheWritesSettled();
  t.is((await readdir(s.dir)).length, 1, 'written again');
  const { chmod } = await import('node:fs/promises');
  await chmod(s.dir, 0o755);
  await s.cache.fetch({ name: NAME, digest: D }, undefined);
  await diskCacheWritesSettled();
  t.is((await stat(s.dir)).mode & 0o777, 0o755, 'within ENSURE_DIR_EVERY_MS the directory is not checked');
  s.advance(ENSURE_DIR_EVERY_MS);
  await s.cache.fetch({ name: NAME, digest: D }, undefined);
  await diskCacheWritesSettled();
  t.is((await stat(s.dir)).mode & 0o777, 0o700, 'the first write after it makes it 0700 again');
  t.false(s.events.includes('write-failed'));
});

test('a storm of new entries lists the directory once, not at every write; past maxEntries the oldest go', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'criguard-cache-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const dir = join(base, 'attestations');
  let listings = 0;
  const make = (maxEntries: number) =>
    createDiskCacheSource({
      source: { fetch: async () => [REC] },
      dir,
      maxEntries,
      listDir: (d) => {
        listings += 1;
        return readdir(d);
      },
    });
  const digest = (i: number) => `sha256:${i.toString(16).padStart(64, '0')}`;
  const roomy = make(100);
  for (let i = 0; i < 50; i++) {
    await roomy.fetch({ name: NAME, digest: digest(i) }, undefined);
    await diskCacheWritesSettled();
  }
  t.is((await readdir(dir)).length, 50);
  t.is(listings, 1, 'listed at the first write only: 50 entries cannot exceed 100');

  // A cache that holds fewer than are there prunes at its first write, and keeps pruning as it writes.
  listings = 0;
  const tight = make(3);
  for (let i = 50; i < 56; i++) {
    await tight.fetch({ name: NAME, digest: digest(i) }, undefined);
    await diskCacheWritesSettled();
  }
  const left = await readdir(dir);
  t.is(left.length, 3);
  t.true(
    left.some((n) => n.includes(digest(55).slice('sha256:'.length))),
    'the newest entry stays',
  );
  t.is(listings, 6, 'at the limit every write lists (and prunes)');
});

test('the directory is listed again every PRUNE_LISTING_EVERY writes, so entries added by hand are pruned', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'criguard-cache-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const dir = join(base, 'attestations');
  let listings = 0;
  const cache = createDiskCacheSource({
    source: { fetch: async () => [REC] },
    dir,
    maxEntries: 10_000,
    listDir: (d) => {
      listings += 1;
      return readdir(d);
    },
  });
  for (let i = 0; i < PRUNE_LISTING_EVERY + 1; i++) {
    await cache.fetch({ name: NAME, digest: `sha256:${i.toString(16).padStart(64, '0')}` }, undefined);
    await diskCacheWritesSettled();
  }
  t.is(listings, 2);
});
