import type { Command } from './command.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { parseOptions } from './parse-options.js';

/**
 * `criguard status`: asks the running daemon (its /status endpoint) for its state and prints it.
 * Exit 0 when the daemon answers and containerd is reachable, 1 otherwise.
 */
export const statusCommand: Command = {
  name: 'status',
  summary: "print the running daemon's state: policy revision, breakglass, quarantine, cache, containerd",
  usage: [
    'Usage: criguard status [--address HOST:PORT] [--output text|json]',
    '',
    "Reads the daemon's status endpoint (its --metrics-address, default 127.0.0.1:9798).",
    'Exit 0 when the daemon answers and reaches containerd; 1 otherwise.',
  ].join('\n'),
  async run(args, io) {
    const { values } = parseOptions(args, { address: { type: 'string' }, output: { type: 'string' } }, false);
    const output = values.output ?? 'text';
    if (output !== 'text' && output !== 'json') throw new UsageError('--output is text or json');
    const address = values.address ?? '127.0.0.1:9798';
    let status: Record<string, unknown>;
    try {
      const response = await fetch(`http://${address}/status`, { signal: AbortSignal.timeout(5000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      status = (await response.json()) as Record<string, unknown>;
    } catch (err) {
      io.stderr(`criguard status: no answer from the daemon at ${address}: ${(err as Error).message}\n`);
      return ExitCode.DENIED_OR_FAILED;
    }
    if (output === 'json') io.stdout(`${JSON.stringify(status, null, 2)}\n`);
    else io.stdout(formatStatus(status));
    return status.containerd === 'ok' ? ExitCode.OK : ExitCode.DENIED_OR_FAILED;
  },
};

function formatStatus(s: Record<string, unknown>): string {
  const policy = s.policy as { file?: string; revision?: string } | null;
  const cache = s.verdictCache as { entries?: number; hits?: number; misses?: number } | undefined;
  const breakglass = s.breakglass as Record<string, unknown> | undefined;
  const quarantine = s.quarantine as Record<string, unknown> | undefined;
  const lines = [
    `criguard ${String(s.version)}`,
    `  enforcing:   ${s.enforcing ? 'yes' : 'NO (no policy configured)'}`,
    `  policy:      ${policy ? `${policy.file} (revision ${policy.revision})` : '-'}`,
    `  breakglass:  ${describeBreakglass(breakglass)}`,
    `  quarantine:  ${describeQuarantine(quarantine)}`,
    `  cache:       ${cache?.entries ?? 0} verdicts (${cache?.hits ?? 0} hits, ${cache?.misses ?? 0} misses)`,
    `  connections: ${String(s.connections)}`,
    `  containerd:  ${String(s.containerd)}`,
  ];
  return `${lines.join('\n')}\n`;
}

function describeBreakglass(b: Record<string, unknown> | undefined): string {
  if (!b || b.state === 'absent') return 'none';
  if (b.state === 'active') return `ACTIVE until ${String(b.expiresAt)} (${JSON.stringify(b.scope)})`;
  const problem = b.problem as { code?: string } | undefined;
  return `${String(b.state)}${problem?.code ? ` (${problem.code})` : ''}: ignored`;
}

function describeQuarantine(q: Record<string, unknown> | undefined): string {
  if (!q || q.state === 'absent') return 'none';
  const inForce = `${String(q.inForce ?? 0)} entries in force`;
  if (q.state === 'valid') return inForce;
  const problem = q.problem as { code?: string } | undefined;
  return q.denyAll === true
    ? `INVALID (${problem?.code ?? '?'}): EVERY image is refused until the file is fixed`
    : `INVALID (${problem?.code ?? '?'}): last good list kept, ${inForce}`;
}
