import { createHttpReadinessProbe } from '../install/readiness.js';
import { serveDefaults } from '../install/host-layout.js';
import type { Command } from './command.js';
import { parseOptions } from './parse-options.js';
import { ExitCode, UsageError } from './exit-codes.js';

/**
 * `criguard probe`: exits 0 when the criguard daemon's metrics listener answers 200 on /readyz (or
 * --path), 1 otherwise. The DaemonSet's exec readiness probe; needs no curl in the image.
 */
export const probeCommand: Command = {
  name: 'probe',
  summary: 'check that the criguard daemon on this node is ready (exit 0) or not (exit 1)',
  usage: `Usage: criguard probe [--address HOST:PORT] [--path /readyz] [--timeout SECONDS]

Asks criguard's metrics listener (default ${serveDefaults.metricsAddress}) for /readyz; exit 0 on HTTP 200.`,
  async run(args, io) {
    const { values } = parseOptions(
      args,
      { address: { type: 'string' }, path: { type: 'string' }, timeout: { type: 'string' } },
      false,
    );
    const path = values.path ?? '/readyz';
    if (!path.startsWith('/')) throw new UsageError('--path must start with /');
    const timeout = Number(values.timeout ?? '2');
    if (!(timeout > 0)) throw new UsageError('--timeout must be a positive number of seconds');
    const address = values.address ?? serveDefaults.metricsAddress;
    const ready = await createHttpReadinessProbe(address, path, timeout * 1000)();
    if (!ready) io.stderr(`criguard probe: http://${address}${path} is not ready\n`);
    return ready ? ExitCode.OK : ExitCode.DENIED_OR_FAILED;
  },
};
