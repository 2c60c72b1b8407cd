import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Builds the single-file executable from the current dist/criguard.cjs into a temporary directory (so a
 * concurrent build or e2e test using dist/ is not disturbed), or uses CRIGUARD_SEA_BINARY when set.
 */
async function packagedBinary(): Promise<string> {
  const given = process.env.CRIGUARD_SEA_BINARY;
  if (given) return given;
  await access('dist/criguard.cjs').catch(() => run(process.execPath, ['scripts/build.mjs']));
  const out = join(await mkdtemp(join(tmpdir(), 'criguard-sea-')), 'criguard');
  await run(process.execPath, ['scripts/package.mjs', '--skip-build', `--out=${out}`], {
    maxBuffer: 1 << 24,
  });
  const [digest] = (await readFile(`${out}.sha256`, 'utf8')).split(/\s+/);
  t_digest = {
    expected: digest ?? '',
    actual: createHash('sha256')
      .update(await readFile(out))
      .digest('hex'),
  };
  return out;
}
let t_digest: { expected: string; actual: string } | undefined;
const binary = packagedBinary();

test.after.always(async () => {
  // The ~85 MiB build in the temporary directory; a given CRIGUARD_SEA_BINARY is left alone.
  if (!process.env.CRIGUARD_SEA_BINARY) await rm(dirname(await binary), { recursive: true, force: true });
});

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
  if (t_digest) t.is(t_digest.actual, t_digest.expected, 'the .sha256 file matches the binary');
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
