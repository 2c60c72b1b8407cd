import type { Command, CommandIo } from './command.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { criguardVersion } from '../version.js';

/**
 * Dispatches `criguard <command> [args]` to one of `commands`. Handles `--help`/`-h`, `--version` and
 * `help <command>`. Returns the exit code; usage errors give 64 with a one-line hint.
 */
export async function runCli(argv: string[], commands: readonly Command[], io: CommandIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined;
    const cmd = topic === undefined ? undefined : findCommand(commands, topic, rest.slice(1));
    const group = topic === undefined || cmd ? [] : groupMembers(commands, topic);
    io.stdout(
      cmd ? `${cmd.command.usage}\n` : group.length > 0 ? groupHelp(topic ?? '', group) : overview(commands),
    );
    return first === undefined ? ExitCode.USAGE : ExitCode.OK;
  }
  if (first === '--version' || first === '-v' || first === 'version') {
    io.stdout(`criguard ${criguardVersion}\n`);
    return ExitCode.OK;
  }
  const found = findCommand(commands, first, rest);
  const group = found ? [] : groupMembers(commands, first);
  if (group.length > 0) {
    // A command group ("policy", "breakglass") without one of its subcommands: list them.
    const asked = rest[0] === '--help' || rest[0] === '-h';
    if (!asked) {
      io.stderr(
        rest[0] === undefined
          ? `criguard ${first}: a subcommand is required\n`
          : `criguard ${first}: unknown subcommand "${rest[0]}"\n`,
      );
    }
    (asked ? io.stdout : io.stderr)(groupHelp(first, group));
    return asked ? ExitCode.OK : ExitCode.USAGE;
  }
  if (!found) {
    io.stderr(`criguard: unknown command "${first}"\nRun "criguard --help" for the list of commands.\n`);
    return ExitCode.USAGE;
  }
  if (found.args.includes('--help') || found.args.includes('-h')) {
    io.stdout(`${found.command.usage}\n`);
    return ExitCode.OK;
  }
  try {
    return await found.command.run(found.args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(
        `criguard ${found.command.name}: ${err.message}\nRun "criguard ${found.command.name} --help".\n`,
      );
      return ExitCode.USAGE;
    }
    throw err;
  }
}

/** Commands may have two words ("policy check"); the longest name that matches wins. */
function findCommand(
  commands: readonly Command[],
  first: string,
  rest: string[],
): { command: Command; args: string[] } | undefined {
  const two = rest[0] === undefined ? undefined : `${first} ${rest[0]}`;
  const byTwo = two === undefined ? undefined : commands.find((c) => c.name === two);
  if (byTwo) return { command: byTwo, args: rest.slice(1) };
  const byOne = commands.find((c) => c.name === first);
  return byOne ? { command: byOne, args: rest } : undefined;
}

/** The commands named `<group> <subcommand>`. */
function groupMembers(commands: readonly Command[], group: string): Command[] {
  return commands.filter((c) => c.name.startsWith(`${group} `));
}

function groupHelp(group: string, members: readonly Command[]): string {
  const width = Math.max(...members.map((c) => c.name.length));
  return [
    `Usage: criguard ${group} <subcommand> [options]`,
    '',
    'Subcommands:',
    ...members.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    `Run "criguard ${group} <subcommand> --help" for a subcommand's options.`,
    '',
  ].join('\n');
}

function overview(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    `criguard ${criguardVersion}: node-level image trust enforcement for Kubernetes (a CRI proxy).`,
    '',
    'Usage: criguard <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run "criguard <command> --help" for a command\'s options. Exit codes: docs/cli.md.',
    '',
  ].join('\n');
}
