/** Special files where criguard expects regular ones: refused at once, never waited on. */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDiskCacheSource } from '../../src/attestations/disk-cache-source.js';
import { createLocalDirectorySource } from '../../src/attestations/local-directory-source.js';
import { loadServeConfig } from '../../src/config/serve-config.js';
import { FileReadError, readRegularFileSync } from '../../src/files/read-regular-file.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cg-special-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('readRegularFileSync: FIFOs, devices, directories and oversize files are refused with a code', (t) => {
  const dir = tempDir(t);
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const big = join(dir, 'big');
  writeFileSync(big, Buffer.alloc(101));
  const cases: Array<[string, string]> = [
    [fifo, 'CG_ERR_FILE_NOT_REGULAR'],
    ['/dev/zero', 'CG_ERR_FILE_NOT_REGULAR'],
    [dir, 'CG_ERR_FILE_NOT_REGULAR'],
    [big, 'CG_ERR_FILE_TOO_LARGE'],
    [join(dir, 'missing'), 'CG_ERR_FILE_NOT_FOUND'],
  ];
  for (const [path, code] of cases) {
    const err = t.throws(() => readRegularFileSync(path, { maxBytes: 100 }), { instanceOf: FileReadError });
    t.is((err as FileReadError).code as string, code, path);
  }
  writeFileSync(big, 'hello');
  t.is(readRegularFileSync(big, { maxBytes: 5 }).bytes.toString(), 'hello');
});

test('a FIFO as the config file is a config error, not a hang', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'config.yaml');
  execFileSync('mkfifo', [file]);
  const err = t.throws(() => loadServeConfig({ file, flags: {}, cwd: '/' }));
  t.is((err as { code?: string }).code, 'CG_ERR_CONFIG');
  t.regex(err!.message, /a FIFO/);
});

test('a FIFO in the offline attestation directory is skipped, not waited on', async (t) => {
  const dir = tempDir(t);
  const folder = join(dir, `sha256-${'a'.repeat(64)}`);
  mkdirSync(folder);
  execFileSync('mkfifo', [join(folder, 'planted.json')]);
  const skipped: string[] = [];
  const source = createLocalDirectorySource({ dir, onSkipped: (_path, code) => skipped.push(code) });
  t.deepEqual(await source.fetch({ name: 'example.com/app', digest: DIGEST }, undefined), []);
  t.deepEqual(skipped, ['CG_ERR_ATTESTATION_FILE_INVALID']);
});

test('a FIFO planted as an attestation cache entry is discarded, not waited on', async (t) => {
  const dir = tempDir(t);
  const events: string[] = [];
  const unavailable = Object.assign(new Error('down'), { code: 'CG_ERR_REGISTRY_UNAVAILABLE' });
  const cache = createDiskCacheSource({
    source: { fetch: () => Promise.reject(unavailable) },
    dir,
    onEvent: (e) => events.push(e),
  });
  // The entry's file name is derived from the digest and the name hash: plant FIFOs under every name.
  const { createHash } = await import('node:crypto');
  const n = createHash('sha256').update('example.com/app').digest('hex').slice(0, 16);
  execFileSync('mkfifo', [join(dir, `sha256-${'a'.repeat(64)}-${n}.json`)]);
  await t.throwsAsync(cache.fetch({ name: 'example.com/app', digest: DIGEST }, undefined), {
    is: unavailable,
  });
  t.deepEqual(events, ['corrupt-discarded']);
});
