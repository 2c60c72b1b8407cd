import { isSea } from 'node:sea';
import { setTimeout as sleep } from 'node:timers/promises';
import { InstallError } from '../install/errors.js';
import { installCriguard, type InstallOptions } from '../install/install.js';
import { createHttpReadinessProbe, waitUntilReady } from '../install/readiness.js';
import type { HostCommandRunner } from '../install/systemd.js';
import type { Command, CommandIo } from './command.js';
import { parseOptions } from './parse-options.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { formatReport, hostOptionSpecs, toHostOptions, toSystemctl } from './host-options.js';
import { criguardVersion } from '../version.js';

/** What `criguard install` takes from its environment; tests replace the runner and the readiness wait. */
export interface InstallCommandDeps {
  readonly runner?: HostCommandRunner;
  readonly waitReady?: (metricsAddress: string, timeoutMs: number) => Promise<void>;
  /** The executable to install when --binary is absent; undefined when not running as a single file. */
  readonly selfExecutable?: () => string | undefined;
  /** Resolves when the sync loop should stop (SIGTERM/SIGINT by default). */
  readonly stopSignal?: () => AbortSignal;
}

const usage = `Usage: criguard install --host-root DIR [options]

Installs or upgrades criguard on a node: the binary (/usr/local/bin/criguard), the systemd unit, the
kubelet drop-in, the files of --config-source (/etc/criguard), then starts criguard, waits until it is
ready and only then points the kubelet's CRI endpoints at criguard. Re-running with nothing new changes
nothing. See docs/operations.md.

Options:
  --host-root DIR           the host's / (e.g. /host in the DaemonSet, / on the node itself)
  --binary PATH             executable to install (default: this single-file executable)
  --config-source DIR       directory whose files go to /etc/criguard (the ConfigMap mount)
  --restart-kubelet         restart the kubelet when its endpoints change (after criguard is ready)
  --no-restart              do not restart criguard after an upgrade; report it as pending
  --host-exec MODE          nsenter (default unless --host-root is /), direct, or none (files only)
  --kubelet-config PATH     the kubelet's KubeletConfiguration on the host (default /var/lib/kubelet/config.yaml)
  --kubelet-flags-file PATH kubelet flag files to patch (repeatable; default kubeadm-flags.env,
                            /etc/default/kubelet, /etc/sysconfig/kubelet)
  --ready-timeout SECONDS   how long to wait for criguard's /readyz (default 60)
  --sync-interval SECONDS   keep re-installing every SECONDS until SIGTERM (the DaemonSet's sync loop)
  --json                    print the report as JSON`;

/** Creates the `install` command with injectable host access. */
export function createInstallCommand(deps: InstallCommandDeps = {}): Command {
  return {
    name: 'install',
    summary: 'install or upgrade criguard on a node (binary, systemd unit, kubelet endpoints)',
    usage,
    async run(args, io) {
      const { values } = parseOptions(
        args,
        {
          ...hostOptionSpecs,
          binary: { type: 'string' },
          'config-source': { type: 'string' },
          'restart-kubelet': { type: 'boolean' },
          'no-restart': { type: 'boolean' },
          'ready-timeout': { type: 'string' },
          'sync-interval': { type: 'string' },
        },
        false,
      );
      const host = toHostOptions(values);
      const readyTimeoutMs = seconds('--ready-timeout', values['ready-timeout'] ?? '60') * 1000;
      const syncIntervalMs = seconds('--sync-interval', values['sync-interval'] ?? '0') * 1000;
      const binary = values.binary ?? (deps.selfExecutable ?? defaultSelfExecutable)();
      if (binary === undefined) {
        throw new UsageError(
          '--binary PATH is required when criguard does not run as the single-file executable',
        );
      }
      const options: InstallOptions = {
        hostRoot: host.hostRoot,
        binary,
        configSource: values['config-source'],
        restartKubelet: values['restart-kubelet'] ?? false,
        restartCriguard: !(values['no-restart'] ?? false),
        kubeletConfig: host.kubeletConfig,
        kubeletFlagFiles: host.kubeletFlagFiles,
        version: criguardVersion,
      };
      const waitReady = deps.waitReady ?? defaultWaitReady;
      const installDeps = {
        systemctl: toSystemctl(host.hostExec, deps.runner),
        waitReady: (address: string) => waitReady(address, readyTimeoutMs),
      };
      const once = async (): Promise<number> => {
        try {
          const report = await installCriguard(options, installDeps);
          io.stdout(host.json ? `${JSON.stringify(report)}\n` : formatReport('install', report));
          return ExitCode.OK;
        } catch (err) {
          return reportFailure(err, io);
        }
      };
      if (syncIntervalMs === 0) return once();
      return syncLoop(once, syncIntervalMs, (deps.stopSignal ?? defaultStopSignal)());
    },
  };
}

/** `criguard install`. */
export const installCommand: Command = createInstallCommand();

/** Re-installs every interval until `signal` aborts; failures are printed and retried, never fatal. */
async function syncLoop(
  once: () => Promise<number>,
  intervalMs: number,
  signal: AbortSignal,
): Promise<number> {
  while (!signal.aborted) {
    await once();
    await sleep(intervalMs, undefined, { signal }).catch(() => undefined);
  }
  return ExitCode.OK;
}

function reportFailure(err: unknown, io: CommandIo): number {
  if (!(err instanceof InstallError)) throw err;
  io.stderr(`criguard install: ${err.code}: ${err.message}\n`);
  return err.code === 'CG_ERR_INSTALL_CONFIG_SOURCE' ? ExitCode.INVALID_INPUT : ExitCode.DENIED_OR_FAILED;
}

function seconds(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new UsageError(`${flag} must be whole seconds`);
  return n;
}

function defaultSelfExecutable(): string | undefined {
  return isSea() ? process.execPath : undefined;
}

function defaultWaitReady(address: string, timeoutMs: number): Promise<void> {
  return waitUntilReady(createHttpReadinessProbe(address), timeoutMs);
}

function defaultStopSignal(): AbortSignal {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return controller.signal;
}
