import test from 'ava';
import { chmod, lstat, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { breakglassDisableCommand } from '../../src/cli/breakglass-disable.js';
import { breakglassEnableCommand } from '../../src/cli/breakglass-enable.js';
import { breakglassStatusCommand } from '../../src/cli/breakglass-status.js';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { runCli } from '../../src/cli/router.js';
import { parseBreakglassDocument } from '../../src/breakglass/document.js';
import { D1, iso, tempDir, writeWithMode, yamlDoc } from './helpers.js';

const commands = [breakglassEnableCommand, breakglassDisableCommand, breakglassStatusCommand];

async function cli(argv: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, commands, {
    stdout: (s) => void out.push(s),
    stderr: (s) => void err.push(s),
    env,
  });
  return { code, out: out.join(''), err: err.join('') };
}

const statusJson = (out: string) =>
  JSON.parse(out) as {
    state: string;
    problem?: { code: string };
    scope?: unknown;
    fileSha256?: string;
    ticket?: string;
  };

test('enable → status → disable round trip, with owner and modes checked', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'etc', 'criguard', 'breakglass.yaml');
  const enabled = await cli(
    [
      'breakglass',
      'enable',
      '--reason',
      'INC-1234 registry outage',
      '--duration',
      '1h30m',
      '--namespace',
      'payments',
      '--image',
      'gcr.io/acme/**',
      '--digest',
      D1,
      '--ticket',
      'INC-1234',
      '--file',
      file,
    ],
    { SUDO_USER: 'alice' },
  );
  t.is(enabled.code, ExitCode.OK, enabled.err);
  t.regex(enabled.out, /until \d{4}-\d\d-\d\dT/);
  t.regex(enabled.out, /namespaces payments AND images gcr\.io\/acme\/\*\* AND digests sha256:1{64}/);

  const st = await stat(file);
  t.is(st.mode & 0o7777, 0o600);
  t.is(st.uid, 0);
  t.is(st.gid, 0);
  t.is(st.nlink, 1);
  t.is((await stat(join(dir, 'etc', 'criguard'))).mode & 0o7777, 0o700);
  const parsed = parseBreakglassDocument(await readFile(file));
  t.true(parsed.ok);
  if (parsed.ok) {
    t.is(parsed.document.createdBy, 'alice');
    t.is(parsed.document.expiresAtMs - Date.parse(parsed.document.createdAt ?? ''), 90 * 60_000);
  }

  const status = await cli(['breakglass', 'status', '--file', file, '--output', 'json']);
  t.is(status.code, ExitCode.OK);
  const s = statusJson(status.out);
  t.is(s.state, 'active');
  t.is(s.ticket, 'INC-1234');
  t.deepEqual(s.scope, { namespaces: ['payments'], images: ['gcr.io/acme/**'], digests: [D1] });
  t.regex(s.fileSha256 ?? '', /^sha256:[0-9a-f]{64}$/);
  const text = await cli(['breakglass', 'status', '--file', file]);
  t.is(text.code, ExitCode.OK);
  t.regex(text.out, /ACTIVE until/);

  const disabled = await cli(['breakglass', 'disable', '--file', file]);
  t.is(disabled.code, ExitCode.OK);
  await t.throwsAsync(stat(file), { code: 'ENOENT' });
  const after = await cli(['breakglass', 'status', '--file', file, '--output', 'json']);
  t.is(after.code, ExitCode.DENIED_OR_FAILED);
  t.is(statusJson(after.out).state, 'absent');
  t.is((await cli(['breakglass', 'disable', '--file', file])).code, ExitCode.OK, 'disable is idempotent');
});

test('enable replaces an existing breakglass atomically (no temporary file left)', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'breakglass.yaml');
  t.is(
    (await cli(['breakglass', 'enable', '--reason', 'one', '--duration', '1h', '--all', '--file', file]))
      .code,
    0,
  );
  const first = statusJson((await cli(['breakglass', 'status', '--file', file, '--output', 'json'])).out);
  t.is(
    (
      await cli([
        'breakglass',
        'enable',
        '--reason',
        'two',
        '--duration',
        '2h',
        '--namespace',
        'a',
        '--file',
        file,
      ])
    ).code,
    0,
  );
  const second = statusJson((await cli(['breakglass', 'status', '--file', file, '--output', 'json'])).out);
  t.not(first.fileSha256, second.fileSha256);
  t.deepEqual(second.scope, { namespaces: ['a'] });
  t.deepEqual(await readdir(dir), ['breakglass.yaml']);
});

test('--max-window must match the daemon: a 30h file is invalid under the 24h default', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'breakglass.yaml');
  const args = ['breakglass', 'enable', '--reason', 'r', '--duration', '30h', '--all', '--file', file];
  t.is((await cli([...args, '--max-window', '48h'])).code, ExitCode.OK);
  const strict = await cli(['breakglass', 'status', '--file', file, '--output', 'json']);
  t.is(strict.code, ExitCode.DENIED_OR_FAILED);
  t.is(statusJson(strict.out).problem?.code, 'CG_ERR_BREAKGLASS_TOO_LONG');
  t.is((await cli(['breakglass', 'status', '--file', file, '--max-window', '48h'])).code, ExitCode.OK);
});

const usageFails: [string, string[]][] = [
  ['missing_reason_fail', ['--duration', '1h', '--all']],
  ['missing_duration_fail', ['--reason', 'r', '--all']],
  ['bad_duration_fail', ['--reason', 'r', '--duration', '2 hours', '--all']],
  ['zero_duration_fail', ['--reason', 'r', '--duration', '0m', '--all']],
  ['duration_above_max_fail', ['--reason', 'r', '--duration', '25h', '--all']],
  ['duration_above_custom_max_fail', ['--reason', 'r', '--duration', '2h', '--all', '--max-window', '1h']],
  ['bad_max_window_fail', ['--reason', 'r', '--duration', '1h', '--all', '--max-window', 'x']],
  ['no_scope_fail', ['--reason', 'r', '--duration', '1h']],
  ['all_and_namespace_fail', ['--reason', 'r', '--duration', '1h', '--all', '--namespace', 'a']],
  ['bad_namespace_fail', ['--reason', 'r', '--duration', '1h', '--namespace', 'Not_A_Namespace']],
  ['bad_image_pattern_fail', ['--reason', 'r', '--duration', '1h', '--image', 'gcr.io/*/x']],
  ['bad_digest_fail', ['--reason', 'r', '--duration', '1h', '--digest', 'sha256:123']],
  ['reason_with_newline_fail', ['--reason', 'a\nb', '--duration', '1h', '--all']],
  ['unknown_option_fail', ['--reason', 'r', '--duration', '1h', '--all', '--force']],
];

for (const [name, args] of usageFails) {
  test(`enable usage: ${name}`, async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'breakglass.yaml');
    const result = await cli(['breakglass', 'enable', ...args, '--file', file]);
    t.is(result.code, ExitCode.USAGE, result.err);
    await t.throwsAsync(stat(file), { code: 'ENOENT' });
  });
}

test('unsafe_directory_fail: enable into a world-writable directory reports that the daemon would ignore it', async (t) => {
  const dir = await tempDir(t);
  const etc = join(dir, 'etc');
  await mkdir(etc);
  await chmod(etc, 0o777);
  const result = await cli([
    'breakglass',
    'enable',
    '--reason',
    'r',
    '--duration',
    '1h',
    '--all',
    '--file',
    join(etc, 'bg.yaml'),
  ]);
  t.is(result.code, ExitCode.DENIED_OR_FAILED);
  t.regex(result.err, /CG_ERR_BREAKGLASS_DIR_UNSAFE/);
});

test('status of an invalid, expired or unsafe file exits 1 with the problem code', async (t) => {
  const dir = await tempDir(t);
  const cases: [string, string, number, string, string][] = [
    [
      'invalid.yaml',
      `${yamlDoc({ expiresAt: iso(Date.now() + 3_600_000) })}enforce: false\n`,
      0o600,
      'invalid',
      'CG_ERR_BREAKGLASS_PARSE',
    ],
    [
      'expired.yaml',
      yamlDoc({ expiresAt: iso(Date.now() - 1000) }),
      0o600,
      'expired',
      'CG_ERR_BREAKGLASS_EXPIRED',
    ],
    [
      'unsafe.yaml',
      yamlDoc({ expiresAt: iso(Date.now() + 3_600_000) }),
      0o602,
      'invalid',
      'CG_ERR_BREAKGLASS_MODE',
    ],
  ];
  for (const [name, text, mode, state, code] of cases) {
    await writeWithMode(join(dir, name), text, mode);
    const json = await cli(['breakglass', 'status', '--file', join(dir, name), '--output', 'json']);
    t.is(json.code, ExitCode.DENIED_OR_FAILED, name);
    t.is(statusJson(json.out).state, state, name);
    t.is(statusJson(json.out).problem?.code, code, name);
    const text2 = await cli(['breakglass', 'status', '--file', join(dir, name)]);
    t.regex(text2.out, new RegExp(code), name);
  }
  t.is((await cli(['breakglass', 'status', '--output', 'yaml'])).code, ExitCode.USAGE);
});

test('disable removes a symlink, not its target, and refuses a directory', async (t) => {
  const dir = await tempDir(t);
  const target = join(dir, 'target.yaml');
  await writeFile(target, 'keep me\n');
  const link = join(dir, 'breakglass.yaml');
  await symlink(target, link);
  t.is((await cli(['breakglass', 'disable', '--file', link])).code, ExitCode.OK);
  await t.throwsAsync(lstat(link), { code: 'ENOENT' });
  t.is(await readFile(target, 'utf8'), 'keep me\n');
  const asDir = join(dir, 'dir.yaml');
  await mkdir(asDir);
  const refused = await cli(['breakglass', 'disable', '--file', asDir]);
  t.is(refused.code, ExitCode.DENIED_OR_FAILED);
  t.regex(refused.err, /CG_ERR_BREAKGLASS_NOT_REGULAR/);
  t.true((await stat(asDir)).isDirectory());
});
