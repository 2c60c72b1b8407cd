import { execFile } from 'node:child_process';
import { InstallError } from './errors.js';

/** Result of one command run on the host. */
export interface HostCommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command in the host's namespaces. Injected so tests can record what the installer runs. */
export type HostCommandRunner = (argv: readonly string[]) => Promise<HostCommandResult>;

/**
 * How the installer reaches the host's systemd: `nsenter` (from a privileged hostPID pod: enter PID 1's
 * mount, UTS, IPC, network and PID namespaces), `direct` (criguard runs on the host), `none` (change files
 * only; every systemctl step is reported as pending).
 */
export type HostExecMode = 'nsenter' | 'direct' | 'none';

/** The prefix that runs a command in PID 1's namespaces. */
export const NSENTER_PREFIX: readonly string[] = Object.freeze([
  'nsenter',
  '-t',
  '1',
  '-m',
  '-u',
  '-i',
  '-n',
  '-p',
  '--',
]);

/** A runner that executes commands with child_process (never through a shell). */
export function createHostCommandRunner(mode: Exclude<HostExecMode, 'none'>): HostCommandRunner {
  const prefix = mode === 'nsenter' ? NSENTER_PREFIX : [];
  return (argv) =>
    new Promise((resolve, reject) => {
      const [file, ...args] = [...prefix, ...argv];
      if (file === undefined) return reject(new Error('empty command'));
      execFile(file, args, { timeout: 5 * 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          reject(
            new InstallError(
              'CG_ERR_HOST_COMMAND',
              `could not run ${[file, ...args].join(' ')}: ${err.message}`,
              {
                cause: err,
              },
            ),
          );
          return;
        }
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      });
    });
}

/** The systemctl operations the installer uses. Mutating calls throw CG_ERR_HOST_COMMAND on failure. */
export interface Systemctl {
  daemonReload(): Promise<void>;
  isActive(unit: string): Promise<boolean>;
  isEnabled(unit: string): Promise<boolean>;
  enable(unit: string): Promise<void>;
  disable(unit: string): Promise<void>;
  start(unit: string): Promise<void>;
  stop(unit: string): Promise<void>;
  restart(unit: string): Promise<void>;
  reload(unit: string): Promise<void>;
}

/** systemctl over a host command runner. */
export function createSystemctl(run: HostCommandRunner): Systemctl {
  const must = async (...args: string[]) => {
    const argv = ['systemctl', ...args];
    const result = await run(argv);
    if (result.code !== 0) {
      throw new InstallError(
        'CG_ERR_HOST_COMMAND',
        `${argv.join(' ')} exited ${result.code}: ${result.stderr.trim().slice(0, 500)}`,
      );
    }
  };
  const query = async (...args: string[]) => (await run(['systemctl', ...args, '--quiet'])).code === 0;
  return {
    daemonReload: () => must('daemon-reload'),
    isActive: (unit) => query('is-active', unit),
    isEnabled: (unit) => query('is-enabled', unit),
    enable: (unit) => must('enable', unit),
    disable: (unit) => must('disable', unit),
    start: (unit) => must('start', unit),
    stop: (unit) => must('stop', unit),
    restart: (unit) => must('restart', unit),
    reload: (unit) => must('reload', unit),
  };
}
