import test from 'ava';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAttestationFile, toAttestationFile } from '../../src/attestations/attestation-file.js';
import { AttestationError } from '../../src/attestations/errors.js';
import {
  createLocalDirectorySource,
  digestDirectoryName,
  writeAttestationFile,
} from '../../src/attestations/local-directory-source.js';
import { digestOf, payloadFor } from '../verify/fixtures.js';

const D = digestOf('local');
const record = {
  payload: payloadFor('gcr.io/org/app', D),
  signatures: [{ publicKeyId: 'k', signature: Uint8Array.from([1, 2, 3]) }],
};

async function tempDir(t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'criguard-att-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('writes and reads back attestations by digest; other digests see none', async (t) => {
  const dir = await tempDir(t);
  const path = await writeAttestationFile(dir, D, record);
  t.true(path.includes(`sha256-${D.slice(7)}`));
  const source = createLocalDirectorySource({ dir });
  const [got] = await source.fetch({ name: 'ignored', digest: D }, undefined);
  t.deepEqual(Buffer.from(got!.payload), Buffer.from(record.payload));
  t.deepEqual(got!.signatures[0]?.publicKeyId, 'k');
  t.deepEqual(await source.fetch({ name: 'ignored', digest: digestOf('none') }, undefined), []);
});

test('reads a Binary Authorization occurrence as printed by gcloud', (t) => {
  const occurrence = {
    name: 'projects/p/occurrences/1',
    kind: 'ATTESTATION',
    noteName: 'projects/p/notes/n',
    resourceUri: `https://gcr.io/org/app@${D}`,
    createTime: '2024-01-01T00:00:00Z',
    updateTime: '2024-01-01T00:00:00Z',
    attestation: JSON.parse(toAttestationFile(record)),
  };
  t.deepEqual(
    parseAttestationFile(JSON.stringify(occurrence)).signatures[0]?.signature,
    Uint8Array.from([1, 2, 3]),
  );
});

const badFiles: [string, string][] = [
  ['not_json_fail', 'nope'],
  ['unknown_field_fail', JSON.stringify({ ...JSON.parse(toAttestationFile(record)), extra: 1 })],
  ['no_signatures_fail', JSON.stringify({ serializedPayload: 'eyJ9', signatures: [] })],
  [
    'bad_base64_fail',
    JSON.stringify({ serializedPayload: 'not base64!', signatures: [{ signature: 'AA==' }] }),
  ],
  [
    'too_many_signatures_fail',
    JSON.stringify({ serializedPayload: 'eyJ9', signatures: Array(17).fill({ signature: 'AA==' }) }),
  ],
  ['jwt_attestation_fail', JSON.stringify({ attestation: { jwts: [{ compactJwt: 'x' }] } })],
];
for (const [name, text] of badFiles) {
  test(name, (t) => {
    t.is(
      t.throws(() => parseAttestationFile(text), { instanceOf: AttestationError })?.code,
      'CG_ERR_ATTESTATION_FILE_INVALID',
    );
  });
}

test('invalid, oversized and symlinked files are skipped and reported', async (t) => {
  const dir = await tempDir(t);
  await writeAttestationFile(dir, D, record);
  const folder = join(dir, digestDirectoryName(D));
  await writeFile(join(folder, 'bad.json'), '{');
  await writeFile(join(folder, 'big.json'), ' '.repeat(300 * 1024));
  await writeFile(join(dir, 'outside.json'), toAttestationFile(record));
  await symlink(join(dir, 'outside.json'), join(folder, 'link.json'));
  const skipped: string[] = [];
  const source = createLocalDirectorySource({
    dir,
    onSkipped: (p, code) => skipped.push(`${p.slice(folder.length + 1)}:${code}`),
  });
  t.is((await source.fetch({ name: 'x', digest: D }, undefined)).length, 1);
  t.deepEqual(skipped.sort(), [
    'bad.json:CG_ERR_ATTESTATION_FILE_INVALID',
    'big.json:CG_ERR_ATTESTATION_LIMIT',
    'link.json:CG_ERR_ATTESTATION_IO',
  ]);
});

test('too_many_files_fail: more files than the limit is an error, not a partial answer', async (t) => {
  const dir = await tempDir(t);
  const folder = join(dir, digestDirectoryName(D));
  await mkdir(folder, { recursive: true });
  for (let i = 0; i < 5; i++) await writeFile(join(folder, `${i}.json`), toAttestationFile(record));
  const source = createLocalDirectorySource({ dir, limits: { maxFiles: 4 } });
  const err = await t.throwsAsync(source.fetch({ name: 'x', digest: D }, undefined), {
    instanceOf: AttestationError,
  });
  t.is(err?.code, 'CG_ERR_ATTESTATION_LIMIT');
});

test('invalid_digest_fail: a bad digest never becomes a path', async (t) => {
  const source = createLocalDirectorySource({ dir: '/nonexistent' });
  await t.throwsAsync(source.fetch({ name: 'x', digest: 'sha256:../../etc' }, undefined), { any: true });
});
