import { readFileSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
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
