import { parseArgs } from 'node:util';
import { admitEverything } from '../admission/admission.js';
import { loadServeConfig, type ServeConfig } from '../config/serve-config.js';
import { createCreateContainerGate } from '../cri/gates/create-container.js';
import { createPullImageGate } from '../cri/gates/pull-image.js';
import { DEFAULT_LIMITS, startProxyServer } from '../cri/proxy-server.js';
import { createRouter } from '../cri/routes.js';
import { createLogger, type LogLevel } from '../log/logger.js';
import type { Command, CommandIo } from './command.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { criguardVersion } from './version.js';

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
  --shutdown-timeout SECONDS how long SIGTERM waits for calls in flight (default 10)`;

/** `criguard serve`: runs until SIGTERM/SIGINT, then drains and resolves 0. Bad config → 2 before listening. */
export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the CRI proxy between the kubelet and containerd',
  usage: USAGE,
  async run(args, io) {
    const config = readConfig(args, io);
    if (typeof config === 'number') return config;
    return serve(config);
  },
};

function readConfig(args: string[], io: CommandIo): ServeConfig | number {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string' },
        listen: { type: 'string' },
        upstream: { type: 'string' },
        'socket-mode': { type: 'string' },
        'log-level': { type: 'string' },
        'shutdown-timeout': { type: 'string' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const timeout = values['shutdown-timeout'];
  if (timeout !== undefined && !/^\d+(\.\d+)?$/.test(timeout)) {
    throw new UsageError('--shutdown-timeout takes a number of seconds');
  }
  try {
    return loadServeConfig({
      file: values.config,
      cwd: process.cwd(),
      flags: {
        listen: values.listen,
        upstream: values.upstream,
        socketMode: values['socket-mode'],
        logLevel: values['log-level'] as LogLevel | undefined,
        shutdownTimeoutSeconds: timeout === undefined ? undefined : Number(timeout),
      },
    });
  } catch (err) {
    io.stderr(`criguard serve: ${(err as Error).message}\n`);
    return ExitCode.INVALID_INPUT;
  }
}

async function serve(config: ServeConfig): Promise<number> {
  const logger = createLogger(config.logLevel);
  const admission = admitEverything;
  const route = createRouter({
    pullImage: createPullImageGate(admission),
    createContainer: createCreateContainerGate(admission),
  });
  let server;
  try {
    server = await startProxyServer({
      listenPath: config.listen,
      upstreamPath: config.upstream,
      socketMode: config.socketMode,
      route,
      logger,
      limits: DEFAULT_LIMITS,
    });
  } catch (err) {
    logger.error({ err: (err as Error).message, code: (err as { code?: string }).code }, 'cannot start');
    return ExitCode.DENIED_OR_FAILED;
  }
  logger.info(
    { version: criguardVersion, listen: config.listen, upstream: config.upstream, pid: process.pid },
    'criguard started',
  );
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info({ signal, connections: server.connections }, 'stopping');
  const cut = await server.stop(config.shutdownTimeoutSeconds * 1000);
  logger.info({ connectionsCut: cut }, 'criguard stopped');
  return ExitCode.OK;
}
