import { loadServeConfig, type ServeConfig } from '../config/serve-config.js';
import type { LogLevel } from '../log/logger.js';
import type { Command, CommandIo } from './command.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { parseOptions } from './parse-options.js';
import { runDaemon } from './serve-daemon.js';

const USAGE = `Usage: criguard serve [options]

Runs the CRI proxy: the kubelet connects to --listen, criguard forwards every call to containerd at
--upstream, and gates PullImage and CreateContainer.

Options:
  --config FILE              YAML/JSON config file (keys: listen, upstream, socketMode, logLevel,
                             shutdownTimeoutSeconds); flags override it
  --listen PATH|unix://PATH  socket to serve (default /run/criguard/criguard.sock)
  --upstream PATH|unix://PATH
                             containerd's socket (default /run/containerd/containerd.sock)
  --socket-mode MODE         permissions of the socket, octal (default 0660)
  --log-level LEVEL          fatal|error|warn|info|debug|trace|silent (default info)
  --shutdown-timeout SECONDS how long SIGTERM waits for calls in flight (default 10)
  --policy FILE              the admission policy (docs/policy.md); reloaded on change and on SIGHUP.
                             Without it criguard enforces nothing (and says so at start)
  --attestors-dir DIR        attestor files besides the policy's inline attestors
  --attestations-dir DIR     offline attestations: DIR/sha256-<hex>/*.json
  --state-dir DIR            persisted verdicts and attestations (default /var/lib/criguard)
  --audit-log FILE|-         one JSON line per decision (default /var/log/criguard/audit.log; - = stdout)
  --cluster LOCATION.ID      this node's cluster, for clusterAdmissionRules
  --metrics-address HOST:PORT|off
                             /metrics, /healthz, /readyz, /status (default 127.0.0.1:9798)
  --revalidate-interval SECONDS
                             re-check running containers' images this often (default 300; 0 = at start only)
  --verify-timeout SECONDS   time budget to resolve and verify one image (default 30)
  --breakglass-file PATH     the node's breakglass file (default /etc/criguard/breakglass.yaml)

Registries (plain HTTP hosts, CA files, token services trusted with credentials) are set in the config
file: see docs/configuration.md.

Signals: SIGTERM/SIGINT drain and stop (exit 0); SIGHUP reloads the policy; SIGUSR1 reopens the audit log.`;

/** `criguard serve`: runs until SIGTERM/SIGINT, then drains and resolves 0. Bad config → 2 before listening. */
export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the CRI proxy between the kubelet and containerd',
  usage: USAGE,
  async run(args, io) {
    const config = readConfig(args, io);
    if (typeof config === 'number') return config;
    return runDaemon(config);
  },
};

function readConfig(args: string[], io: CommandIo): ServeConfig | number {
  const { values } = parseOptions(
    args,
    {
      config: { type: 'string' },
      listen: { type: 'string' },
      upstream: { type: 'string' },
      'socket-mode': { type: 'string' },
      'log-level': { type: 'string' },
      'shutdown-timeout': { type: 'string' },
      policy: { type: 'string' },
      'attestors-dir': { type: 'string' },
      'attestations-dir': { type: 'string' },
      'state-dir': { type: 'string' },
      'audit-log': { type: 'string' },
      cluster: { type: 'string' },
      'metrics-address': { type: 'string' },
      'revalidate-interval': { type: 'string' },
      'verify-timeout': { type: 'string' },
      'breakglass-file': { type: 'string' },
    },
    false,
  );
  const seconds = (
    flag: 'shutdown-timeout' | 'revalidate-interval' | 'verify-timeout',
  ): number | undefined => {
    const value = values[flag];
    if (value === undefined) return undefined;
    if (!/^\d+(\.\d+)?$/.test(value)) throw new UsageError(`--${flag} takes a number of seconds`);
    return Number(value);
  };
  try {
    return loadServeConfig({
      file: values.config,
      cwd: process.cwd(),
      flags: {
        listen: values.listen,
        upstream: values.upstream,
        socketMode: values['socket-mode'],
        logLevel: values['log-level'] as LogLevel | undefined,
        shutdownTimeoutSeconds: seconds('shutdown-timeout'),
        revalidateIntervalSeconds: seconds('revalidate-interval'),
        verifyTimeoutSeconds: seconds('verify-timeout'),
        metricsAddress: values['metrics-address'],
        breakglassFile: values['breakglass-file'],
        policy: values.policy,
        attestorsDir: values['attestors-dir'],
        attestationsDir: values['attestations-dir'],
        stateDir: values['state-dir'],
        auditLog: values['audit-log'],
        cluster: values.cluster,
      },
    });
  } catch (err) {
    io.stderr(`criguard serve: ${(err as Error).message}\n`);
    return ExitCode.INVALID_INPUT;
  }
}
