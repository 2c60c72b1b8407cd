import test from 'ava';
import type { Command } from '../../src/cli/command.js';
import { commands } from '../../src/cli/commands.js';
import { ExitCode, UsageError } from '../../src/cli/exit-codes.js';
import { runCli } from '../../src/cli/router.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: { stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t), env: {} },
  };
}

const seen: string[][] = [];
const cmds: Command[] = [
  {
    name: 'policy check',
    summary: 'check',
    usage: 'Usage: policy check FILE',
    run: async (a) => (seen.push(a), 0),
  },
  {
    name: 'serve',
    summary: 'serve',
    usage: 'Usage: serve',
    run: async () => {
      throw new UsageError('--listen needs a value');
    },
  },
];

test('dispatches two-word commands with their remaining arguments', async (t) => {
  const c = capture();
  t.is(await runCli(['policy', 'check', 'p.yaml'], cmds, c.io), 0);
  t.deepEqual(seen.at(-1), ['p.yaml']);
});

test('unknown commands and usage errors exit 64 with a hint', async (t) => {
  const c = capture();
  t.is(await runCli(['nope'], cmds, c.io), ExitCode.USAGE);
  t.regex(c.err.join(''), /unknown command "nope"/);
  t.is(await runCli(['serve'], cmds, c.io), ExitCode.USAGE);
  t.regex(c.err.join(''), /--listen needs a value[\s\S]*criguard serve --help/);
});

test('--help and --version answer without running a command', async (t) => {
  const c = capture();
  t.is(await runCli(['--help'], cmds, c.io), 0);
  t.regex(c.out.join(''), /policy check/);
  t.is(await runCli(['serve', '--help'], cmds, c.io), 0);
  t.regex(c.out.join(''), /Usage: serve/);
  t.is(await runCli(['--version'], cmds, c.io), 0);
  t.regex(c.out.join(''), /^criguard /m);
});

test('every command group answers --help with its subcommands; without one it is a usage error', async (t) => {
  const groups = new Map<string, string[]>();
  for (const c of commands) {
    const [group, sub] = c.name.split(' ');
    if (group !== undefined && sub !== undefined) groups.set(group, [...(groups.get(group) ?? []), c.name]);
  }
  for (const known of ['breakglass', 'policy']) t.true(groups.has(known), known);
  for (const [group, members] of groups) {
    for (const args of [
      [group, '--help'],
      [group, '-h'],
      ['help', group],
    ]) {
      const c = capture();
      t.is(await runCli(args, commands, c.io), ExitCode.OK, args.join(' '));
      t.deepEqual(c.err, [], args.join(' '));
      for (const name of members) t.true(c.out.join('').includes(name), `${args.join(' ')}: ${name}`);
    }
    for (const args of [[group], [group, 'bogus']]) {
      const c = capture();
      t.is(await runCli(args, commands, c.io), ExitCode.USAGE, args.join(' '));
      t.regex(
        c.err.join(''),
        new RegExp(`criguard ${group}: (a subcommand is required|unknown subcommand "bogus")`),
      );
      t.true(c.err.join('').includes(members[0] ?? '?'));
    }
  }
});
