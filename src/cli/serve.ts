import { loadServeConfig, type ServeConfig } from '../config/serve-config.js';
import type { Command, CommandIo } from './command.js';
import { ExitCode } from './exit-codes.js';
import { parseOptions } from './parse-options.js';
import type { DaemonOutcome } from '../daemon/outcome.js';
import { runDaemon } from '../daemon/serve-daemon.js';
import { flagsToInput, serveOptionSpecs, serveOptionsHelp } from './serve-options.js';

const USAGE = `Usage: criguard serve [options]

Runs the CRI proxy: the kubelet connects to --listen, criguard forwards every call to containerd at
--upstream, and gates PullImage and CreateContainer. Under systemd it serves the socket criguard.socket
passes (socket activation) and reports readiness (Type=notify); see docs/operations.md.

Options (each also a config file key, shown in brackets):
${serveOptionsHelp()}

Signals: SIGTERM/SIGINT drain and stop (exit 0); SIGHUP reloads the policy; SIGUSR1 reopens the audit log.`;

/** `criguard serve`: runs until SIGTERM/SIGINT, then drains and resolves 0. Bad config → 2 before listening. */
export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the CRI proxy between the kubelet and containerd',
  usage: USAGE,
  async run(args, io) {
    const config = readConfig(args, io);
    if (typeof config === 'number') return config;
    return exitCodeOf(await runDaemon(config));
  },
};

/** The exit code of how the daemon ended: 0 after a clean stop, 2 for an invalid policy at start, 1 otherwise. */
export function exitCodeOf(outcome: DaemonOutcome): ExitCode {
  switch (outcome.kind) {
    case 'stopped':
      return ExitCode.OK;
    case 'invalid-policy':
      return ExitCode.INVALID_INPUT;
    case 'failed':
      return ExitCode.DENIED_OR_FAILED;
  }
}

function readConfig(args: string[], io: CommandIo): ServeConfig | number {
  const { values } = parseOptions(args, serveOptionSpecs(), false);
  const flags = flagsToInput(values);
  try {
    return loadServeConfig({ file: values.config as string | undefined, cwd: process.cwd(), flags });
  } catch (err) {
    io.stderr(`criguard serve: ${(err as Error).message}\n`);
    return ExitCode.INVALID_INPUT;
  }
}
