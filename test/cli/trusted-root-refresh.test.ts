import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { runCli } from '../../src/cli/router.js';
import { trustedRootRefreshCommand } from '../../src/cli/trusted-root-refresh.js';
import { ExitCode } from '../../src/cli/exit-codes.js';
import {
  buildTufRepository,
  serveFiles,
  tufKey,
  type TufRepositoryOptions,
} from '../helpers/tuf-repository.js';
import { tempDir } from './cli-harness.js';

const TRUSTED_ROOT = readFileSync('src/verify/keyless/public-good-trusted-root.json');
const OLD = Buffer.from('{"previous":"content the daemon loaded"}\n');
/** The same trusted root, other bytes: what a later (or an attacker's) publication would write. */
const COMPACT = Buffer.from(JSON.stringify(JSON.parse(TRUSTED_ROOT.toString('utf8'))));

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, [trustedRootRefreshCommand], {
    stdout: (s) => void out.push(s),
    stderr: (s) => void err.push(s),
    env: {},
  });
  return { code, out: out.join(''), err: err.join('') };
}

/** Builds and serves a TUF repository, writes its pinned root, runs the refresh into `output`. */
async function refreshFrom(
  t: ExecutionContext,
  repo: Partial<TufRepositoryOptions>,
  outputContent?: Buffer,
  extraArgs: string[] = [],
): Promise<{ code: number; out: string; err: string; output: string; dir: string }> {
  const dir = await tempDir(t);
  const { root, files } = buildTufRepository({ target: TRUSTED_ROOT, ...repo });
  const server = await serveFiles(files);
  t.teardown(server.close);
  await writeFile(join(dir, 'root.json'), root);
  const output = join(dir, 'trusted_root.json');
  if (outputContent) await writeFile(output, outputContent);
  const res = await run([
    'trusted-root',
    'refresh',
    '--mirror',
    server.url,
    '--root',
    join(dir, 'root.json'),
    '--output',
    output,
    '--timeout',
    '5',
    ...extraArgs,
  ]);
  return { ...res, output, dir };
}

test('refresh writes the TUF-verified trusted root (0644); an unreachable mirror then fails and leaves it', async (t) => {
  const res = await refreshFrom(t, {});
  t.is(res.code, ExitCode.OK, res.err);
  t.regex(res.out, /^written .*trusted_root\.json \(sha256:[0-9a-f]{64}\)/);
  t.deepEqual(await readFile(res.output), TRUSTED_ROOT);
  t.is((await stat(res.output)).mode & 0o777, 0o644);

  const again = await run([
    'trusted-root',
    'refresh',
    '--mirror',
    'http://127.0.0.1:1',
    '--root',
    join(res.dir, 'root.json'),
    '--output',
    res.output,
    '--timeout',
    '2',
  ]);
  t.is(again.code, ExitCode.DENIED_OR_FAILED, 'an unreachable mirror fails');
  t.deepEqual(await readFile(res.output), TRUSTED_ROOT, 'and leaves the file');
});

test('refresh of an unchanged target leaves the file as is and says so', async (t) => {
  const res = await refreshFrom(t, {}, TRUSTED_ROOT);
  t.is(res.code, ExitCode.OK, res.err);
  t.regex(res.out, /^unchanged /);
});

test('a tampered target (hash mismatch) is refused and the output is unchanged', async (t) => {
  const tampered = Buffer.from(TRUSTED_ROOT.toString('utf8').replace('"mediaType"', ' "mediaType"'));
  const res = await refreshFrom(t, { servedTarget: tampered }, OLD);
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  t.regex(res.err, /TUF refresh from http:\/\/127\.0\.0\.1:\d+ failed: .*(hash|length)/i);
  t.deepEqual(await readFile(res.output), OLD);
});

test('an expired timestamp is refused and the output is unchanged', async (t) => {
  const res = await refreshFrom(t, { timestampExpiresInDays: -1 }, OLD);
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  t.regex(res.err, /timestamp.*expired|expired.*timestamp/i);
  t.deepEqual(await readFile(res.output), OLD);
});

test('a timestamp signed by a key the root does not know is refused', async (t) => {
  const res = await refreshFrom(t, { timestampSigner: tufKey() }, OLD);
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  t.regex(res.err, /timestamp was signed by 0\/1 keys/);
  t.deepEqual(await readFile(res.output), OLD);
});

test('a root rotation signed only by an unknown key is refused', async (t) => {
  const res = await refreshFrom(t, { rotatedRootSigner: tufKey() }, OLD);
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  t.regex(res.err, /root was signed by 0\/1 keys/);
  t.deepEqual(await readFile(res.output), OLD);
});

test('a legitimate root rotation is followed and the verified rotated root is kept in --cache-dir', async (t) => {
  const cache = join(await tempDir(t), 'cache');
  const res = await refreshFrom(t, { legitimateRootRotation: tufKey() }, undefined, ['--cache-dir', cache]);
  t.is(res.code, ExitCode.OK, res.err);
  t.deepEqual(await readFile(res.output), TRUSTED_ROOT);
  const cached = JSON.parse(await readFile(join(cache, 'root.json'), 'utf8')) as {
    signed: { version: number };
  };
  t.is(cached.signed.version, 2, 'the verified rotated root is cached');
  t.truthy(await stat(join(cache, 'timestamp.json')));
});

test('a correctly signed target that is not a Sigstore trusted root is refused', async (t) => {
  const invalid = Buffer.from(JSON.stringify({ mediaType: 'application/json', tlogs: [] }));
  const res = await refreshFrom(t, { target: invalid }, OLD);
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  t.regex(res.err, /refused: CG_ERR_TRUSTED_ROOT_INVALID|mediaType is not a Sigstore trusted root/);
  t.deepEqual(await readFile(res.output), OLD);
});

test('bad input: unreadable or non-TUF --root → exit 2; non-http mirror → exit 2; missing option → 64', async (t) => {
  const dir = await tempDir(t);
  const output = join(dir, 'out.json');
  await writeFile(join(dir, 'not-root.json'), JSON.stringify({ signed: { _type: 'targets' } }));
  const base = ['trusted-root', 'refresh', '--output', output];
  const missing = await run([...base, '--mirror', 'http://127.0.0.1:1', '--root', join(dir, 'nope.json')]);
  t.is(missing.code, ExitCode.INVALID_INPUT);
  t.regex(missing.err, /cannot read the TUF root/);
  const notRoot = await run([
    ...base,
    '--mirror',
    'http://127.0.0.1:1',
    '--root',
    join(dir, 'not-root.json'),
  ]);
  t.is(notRoot.code, ExitCode.INVALID_INPUT);
  t.regex(notRoot.err, /not a TUF root/);
  const file = await run([...base, '--mirror', 'file:///etc', '--root', join(dir, 'not-root.json')]);
  t.is(file.code, ExitCode.INVALID_INPUT);
  t.regex(file.err, /http\(s\) URL/);
  t.is((await run(['trusted-root', 'refresh', '--output', output])).code, ExitCode.USAGE);
  await t.throwsAsync(stat(output));
});

/** Serves `files`, runs the refresh with `root` pinned into `output`, sharing `dir` (and any cache in it). */
async function refreshServed(
  t: ExecutionContext,
  dir: string,
  root: Buffer,
  files: Map<string, Buffer>,
  extraArgs: string[] = [],
): Promise<{ code: number; out: string; err: string; output: string }> {
  const server = await serveFiles(files);
  t.teardown(server.close);
  await writeFile(join(dir, 'root.json'), root);
  const output = join(dir, 'trusted_root.json');
  const argv = ['trusted-root', 'refresh', '--mirror', server.url, '--root', join(dir, 'root.json')];
  const res = await run([...argv, '--output', output, '--timeout', '5', ...extraArgs]);
  return { ...res, output };
}

const rollbacks: [string, { timestamp: number; snapshot: number; targets: number }, RegExp][] = [
  [
    'timestamp',
    { timestamp: 1, snapshot: 2, targets: 2 },
    /timestamp version 1 is less than current version 2/,
  ],
  [
    'snapshot',
    { timestamp: 3, snapshot: 1, targets: 2 },
    /snapshot version 1 is less than current version 2/,
  ],
  [
    'targets',
    { timestamp: 3, snapshot: 3, targets: 1 },
    /version 1 of targets\.json is less than current version 2/,
  ],
];
for (const [role, versions, message] of rollbacks) {
  test(`rollback: the mirror serves an older ${role} than the cache saw → refused, output unchanged`, async (t) => {
    const dir = await tempDir(t);
    const cache = ['--cache-dir', join(dir, 'cache')];
    const seen = buildTufRepository({
      target: TRUSTED_ROOT,
      versions: { timestamp: 2, snapshot: 2, targets: 2 },
    });
    const first = await refreshServed(t, dir, seen.root, seen.files, cache);
    t.is(first.code, ExitCode.OK, first.err);
    // The same repository's keys sign an older publication with another target.
    const older = buildTufRepository({ target: COMPACT, keys: seen.keys, versions });
    const res = await refreshServed(t, dir, seen.root, older.files, cache);
    t.is(res.code, ExitCode.DENIED_OR_FAILED);
    t.regex(res.err, message);
    t.deepEqual(await readFile(res.output), TRUSTED_ROOT);
  });
}

test('rollback control: a newer publication with the same keys is accepted after the first', async (t) => {
  const dir = await tempDir(t);
  const cache = ['--cache-dir', join(dir, 'cache')];
  const seen = buildTufRepository({
    target: TRUSTED_ROOT,
    versions: { timestamp: 2, snapshot: 2, targets: 2 },
  });
  t.is((await refreshServed(t, dir, seen.root, seen.files, cache)).code, ExitCode.OK);
  const newer = buildTufRepository({
    target: COMPACT,
    keys: seen.keys,
    versions: { timestamp: 3, snapshot: 3, targets: 3 },
  });
  const res = await refreshServed(t, dir, seen.root, newer.files, cache);
  t.is(res.code, ExitCode.OK, res.err);
  t.deepEqual(await readFile(res.output), COMPACT);
});

test('an expired snapshot (a frozen mirror) is refused and the output is unchanged', async (t) => {
  const res = await refreshFrom(t, { snapshotExpiresInDays: -1 }, OLD);
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  t.regex(res.err, /snapshot.*expired|expired.*snapshot/i);
  t.deepEqual(await readFile(res.output), OLD);
});

test('threshold: a pinned root needing 2 root signatures that carries 1 is refused', async (t) => {
  const [k1, k2] = [tufKey(), tufKey()];
  const res = await refreshFrom(t, { rootRole: { keys: [k1, k2], threshold: 2, signers: [k1] } }, OLD);
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  t.regex(res.err, /root was signed by 1\/2 keys/);
  t.deepEqual(await readFile(res.output), OLD);
});

test('threshold: a rotation to a 2-of-2 root signed by 1 of its keys is refused; by both, followed', async (t) => {
  const [k1, k2] = [tufKey(), tufKey()];
  const short = await refreshFrom(
    t,
    { thresholdRotation: { keys: [k1, k2], threshold: 2, signers: [k1] } },
    OLD,
  );
  t.is(short.code, ExitCode.DENIED_OR_FAILED);
  t.regex(short.err, /root was signed by 1\/2 keys/);
  t.deepEqual(await readFile(short.output), OLD);
  const both = await refreshFrom(
    t,
    { thresholdRotation: { keys: [k1, k2], threshold: 2, signers: [k1, k2] } },
    OLD,
  );
  t.is(both.code, ExitCode.OK, both.err);
  t.deepEqual(await readFile(both.output), TRUSTED_ROOT);
});

const strangers: [string, number][] = [
  ['a root of other keys', 1],
  ['a higher-version root of other keys', 5],
];
for (const [what, rootVersion] of strangers) {
  test(`cache: ${what} written into --cache-dir is not trusted; the cache starts again from --root`, async (t) => {
    const dir = await tempDir(t);
    const cacheDir = join(dir, 'cache');
    const pinned = buildTufRepository({ target: TRUSTED_ROOT });
    // The attacker's repository, served by the mirror, and its root planted in the cache.
    const attacker = buildTufRepository({ target: COMPACT, rootVersion });
    await refreshServed(t, dir, pinned.root, pinned.files, ['--cache-dir', cacheDir]);
    await writeFile(join(cacheDir, 'root.json'), attacker.root);
    await writeFile(join(dir, 'trusted_root.json'), OLD);
    const res = await refreshServed(t, dir, pinned.root, attacker.files, ['--cache-dir', cacheDir]);
    t.is(res.code, ExitCode.DENIED_OR_FAILED, res.out);
    t.regex(res.err, /started again from --root/);
    t.regex(res.err, /timestamp was signed by 0\/1 keys/);
    t.deepEqual(await readFile(res.output), OLD);
    t.deepEqual(
      await readFile(join(cacheDir, 'root.json')),
      pinned.root,
      'the cache holds the pinned root again',
    );
  });
}

test('cache: a rotated root kept with its chain is used (a mirror withholding the rotation cannot undo it)', async (t) => {
  const dir = await tempDir(t);
  const cache = ['--cache-dir', join(dir, 'cache')];
  const repo = buildTufRepository({ target: TRUSTED_ROOT, legitimateRootRotation: tufKey() });
  t.is((await refreshServed(t, dir, repo.root, repo.files, cache)).code, ExitCode.OK);
  t.truthy(await stat(join(dir, 'cache', 'roots', '2.root.json')), 'the rotation is kept');
  const withheld = new Map(repo.files);
  withheld.delete('2.root.json');
  const again = await refreshServed(t, dir, repo.root, withheld, cache);
  t.is(again.code, ExitCode.OK, again.err);
  t.is(again.err, '', 'no warning: the cached root descends from --root');
  const cached = JSON.parse(await readFile(join(dir, 'cache', 'root.json'), 'utf8')) as {
    signed: { version: number };
  };
  t.is(cached.signed.version, 2);
});

test('cache: a rotated root whose chain is missing is not used; the cache starts again with a warning', async (t) => {
  const dir = await tempDir(t);
  const cache = ['--cache-dir', join(dir, 'cache')];
  const repo = buildTufRepository({ target: TRUSTED_ROOT, legitimateRootRotation: tufKey() });
  t.is((await refreshServed(t, dir, repo.root, repo.files, cache)).code, ExitCode.OK);
  await rm(join(dir, 'cache', 'roots', '2.root.json'));
  const again = await refreshServed(t, dir, repo.root, repo.files, cache);
  t.is(again.code, ExitCode.OK, again.err);
  t.regex(again.err, /warning: .*started again from --root: root version 2 .* is missing/);
  t.truthy(await stat(join(dir, 'cache', 'roots', '2.root.json')), 'walked again from --root and kept');
});

test('cache: an attacker root planted as the cached root and as its kept rotation does not verify from --root', async (t) => {
  const dir = await tempDir(t);
  const cacheDir = join(dir, 'cache');
  const pinned = buildTufRepository({ target: TRUSTED_ROOT });
  t.is((await refreshServed(t, dir, pinned.root, pinned.files, ['--cache-dir', cacheDir])).code, ExitCode.OK);
  const attacker = buildTufRepository({ target: COMPACT, rootVersion: 2 });
  await mkdir(join(cacheDir, 'roots'), { recursive: true });
  await writeFile(join(cacheDir, 'roots', '2.root.json'), attacker.root);
  await writeFile(join(cacheDir, 'root.json'), attacker.root);
  const res = await refreshServed(t, dir, pinned.root, attacker.files, ['--cache-dir', cacheDir]);
  t.is(res.code, ExitCode.DENIED_OR_FAILED, res.out);
  t.regex(res.err, /root version 2 does not follow from the one before \(root was signed by 0\/1 keys\)/);
  t.deepEqual(await readFile(res.output), TRUSTED_ROOT);
  t.deepEqual(await readFile(join(cacheDir, 'root.json')), pinned.root);
});
