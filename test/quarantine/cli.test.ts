import test from 'ava';
import { stat, writeFile, readFile } from 'node:fs/promises';
import { commands } from '../../src/cli/commands.js';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { runCli } from '../../src/cli/router.js';
import { parseQuarantineDocument } from '../../src/quarantine/document.js';
import { BAD, GOOD, quarantineDir } from './helpers.js';

async function cli(argv: string[], env: Record<string, string> = { SUDO_USER: 'alice' }) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, commands, {
    stdout: (s) => void out.push(s),
    stderr: (s) => void err.push(s),
    env,
  });
  return { code, out: out.join(''), err: err.join('') };
}

interface Listed {
  state: string;
  entries: {
    image: string;
    reason: string;
    ticket?: string;
    addedBy?: string;
    expiresAt?: string;
    inForce: boolean;
  }[];
  problem?: { code: string };
}

test('add → list (text and json) → remove round trip; the file is root-owned 0600 and records who changed it', async (t) => {
  const { path } = await quarantineDir(t);
  const added = await cli([
    'quarantine',
    'add',
    BAD,
    '--reason',
    'CVE-2026-0001',
    '--ticket',
    'INC-7',
    '--file',
    path,
  ]);
  t.is(added.code, ExitCode.OK, added.err);
  t.regex(added.out, /quarantined on this node: sha256:b{64}/);
  const st = await stat(path);
  t.is(st.uid, 0);
  t.is(st.mode & 0o777, 0o600);
  const added2 = await cli([
    'quarantine',
    'add',
    'registry.example/team/**',
    '--reason',
    'bad team',
    '--expires',
    '72h',
    '--file',
    path,
  ]);
  t.is(added2.code, ExitCode.OK, added2.err);
  const doc = parseQuarantineDocument(await readFile(path));
  if (!doc.ok) return t.fail(doc.problem.message);
  t.is(doc.document.lastChange?.action, 'add');
  t.regex(doc.document.lastChange?.by ?? '', /^alice \(uid 0\)$/);

  const json = await cli(['quarantine', 'list', '--output', 'json', '--file', path]);
  t.is(json.code, ExitCode.OK);
  const listed = JSON.parse(json.out) as Listed;
  t.is(listed.state, 'valid');
  t.deepEqual(
    listed.entries.map((e) => e.image),
    [BAD, 'registry.example/team/**'],
  );
  t.is(listed.entries[0]?.ticket, 'INC-7');
  t.is(listed.entries[0]?.addedBy, 'alice (uid 0)');
  t.truthy(listed.entries[1]?.expiresAt);
  t.true(listed.entries.every((e) => e.inForce));
  const text = await cli(['quarantine', 'list', '--file', path]);
  t.regex(text.out, /2 entries in force/);
  t.regex(text.out, /CVE-2026-0001 .*ticket INC-7/);

  const removed = await cli([
    'quarantine',
    'remove',
    BAD,
    '--reason',
    'fixed release',
    '--ticket',
    'INC-8',
    '--file',
    path,
  ]);
  t.is(removed.code, ExitCode.OK, removed.err);
  const after = parseQuarantineDocument(await readFile(path));
  if (!after.ok) return t.fail(after.problem.message);
  t.deepEqual(
    after.document.entries.map((e) => e.image),
    ['registry.example/team/**'],
  );
  t.deepEqual(after.document.lastChange && { ...after.document.lastChange, at: undefined }, {
    action: 'remove',
    image: BAD,
    by: 'alice (uid 0)',
    at: undefined,
    reason: 'fixed release',
    ticket: 'INC-8',
  });
  const again = await cli(['quarantine', 'remove', BAD, '--file', path]);
  t.is(again.code, ExitCode.DENIED_OR_FAILED);
  t.regex(again.err, /not on the quarantine list/);
});

test('bad input changes nothing: tags, short digests, past expiry, missing reason, two images', async (t) => {
  const { path } = await quarantineDir(t);
  for (const argv of [
    ['quarantine', 'add', 'registry.example/app:v1', '--reason', 'x'],
    ['quarantine', 'add', 'sha256:abc', '--reason', 'x'],
    ['quarantine', 'add', BAD, '--reason', 'x', '--expires', '2020-01-01T00:00:00Z'],
    ['quarantine', 'add', BAD, '--reason', 'x', '--expires', 'soon'],
    ['quarantine', 'add', BAD],
    ['quarantine', 'add', BAD, GOOD, '--reason', 'x'],
    ['quarantine', 'add', BAD, '--reason', 'line\nbreak'],
  ]) {
    const result = await cli([...argv, '--file', path]);
    t.is(result.code, ExitCode.USAGE, `${argv.join(' ')}: ${result.err}`);
  }
  await t.throwsAsync(stat(path), { code: 'ENOENT' });
});

test('an invalid current file is reported and never overwritten (its entries are not dropped)', async (t) => {
  const { path } = await quarantineDir(t);
  const broken = `entries:\n  - image: "${BAD}"\n    reason: half written\n`;
  await writeFile(path, broken, { mode: 0o600 });
  const listed = await cli(['quarantine', 'list', '--output', 'json', '--file', path]);
  t.is(listed.code, ExitCode.DENIED_OR_FAILED);
  t.is((JSON.parse(listed.out) as Listed).problem?.code, 'CG_ERR_QUARANTINE_INCOMPLETE');
  const added = await cli(['quarantine', 'add', GOOD, '--reason', 'x', '--file', path]);
  t.is(added.code, ExitCode.DENIED_OR_FAILED);
  t.regex(added.err, /not trusted \(CG_ERR_QUARANTINE_INCOMPLETE/);
  t.is(await readFile(path, 'utf8'), broken);
});

test('`quarantine --help` and `quarantine` list the subcommands; each has its own --help', async (t) => {
  const help = await cli(['quarantine', '--help']);
  t.is(help.code, ExitCode.OK);
  for (const sub of ['add', 'list', 'remove']) t.regex(help.out, new RegExp(`quarantine ${sub}`));
  t.is((await cli(['quarantine'])).code, ExitCode.USAGE);
  const add = await cli(['quarantine', 'add', '--help']);
  t.regex(add.out, /--reason TEXT/);
  const empty = await cli(['quarantine', 'list', '--file', '/nonexistent/dir/quarantine.yaml']);
  t.is(empty.code, ExitCode.OK);
  t.regex(empty.out, /empty/);
});
