import { hostLayout } from '../install/host-layout.js';
import {
  createHostCommandRunner,
  createSystemctl,
  type HostCommandRunner,
  type HostExecMode,
  type Systemctl,
} from '../install/systemd.js';
import type { InstallReport } from '../install/install.js';
import { UsageError } from './exit-codes.js';

/** parseArgs options shared by `install` and `uninstall`. */
export const hostOptionSpecs = {
  'host-root': { type: 'string' },
  'host-exec': { type: 'string' },
  'kubelet-config': { type: 'string' },
  'kubelet-flags-file': { type: 'string', multiple: true },
  json: { type: 'boolean' },
} as const;

/** Parsed shared options. */
export interface HostOptions {
  readonly hostRoot: string;
  readonly hostExec: HostExecMode;
  readonly kubeletConfig: string;
  readonly kubeletFlagFiles: readonly string[];
  readonly json: boolean;
}

/** Checks the shared options; throws UsageError. `--host-exec` defaults to direct for `/`, else nsenter. */
export function toHostOptions(values: {
  'host-root'?: string;
  'host-exec'?: string;
  'kubelet-config'?: string;
  'kubelet-flags-file'?: string[];
  json?: boolean;
}): HostOptions {
  const hostRoot = values['host-root'];
  if (hostRoot === undefined || hostRoot === '') throw new UsageError('--host-root DIR is required');
  const hostExec = values['host-exec'] ?? (hostRoot === '/' ? 'direct' : 'nsenter');
  if (hostExec !== 'nsenter' && hostExec !== 'direct' && hostExec !== 'none') {
    throw new UsageError(`--host-exec must be nsenter, direct or none, not "${hostExec}"`);
  }
  const hostPath = (flag: string, value: string) => {
    if (!value.startsWith('/')) throw new UsageError(`${flag} must be an absolute path on the host`);
    return value;
  };
  return {
    hostRoot,
    hostExec,
    kubeletConfig: hostPath('--kubelet-config', values['kubelet-config'] ?? hostLayout.kubeletConfig),
    kubeletFlagFiles: (values['kubelet-flags-file'] ?? hostLayout.kubeletFlagFiles).map((f) =>
      hostPath('--kubelet-flags-file', f),
    ),
    json: values.json ?? false,
  };
}

/** Builds a Systemctl for a mode; `runner` replaces the real one (tests). undefined for `none`. */
export function toSystemctl(mode: HostExecMode, runner?: HostCommandRunner): Systemctl | undefined {
  if (mode === 'none') return undefined;
  return createSystemctl(runner ?? createHostCommandRunner(mode));
}

/** A report as text lines: changed files, actions, pending steps, warnings; "unchanged" when nothing happened. */
export function formatReport(command: string, report: InstallReport): string {
  const lines = Object.entries(report.files)
    .filter(([, change]) => change !== 'unchanged')
    .map(([file, change]) => `${file}: ${change}`);
  lines.push(...report.actions.map((a) => `ran: systemctl ${a}`));
  lines.push(...report.pending.map((p) => `pending: ${p}`));
  lines.push(...report.warnings.map((w) => `warning: ${w}`));
  if (lines.length === 0) lines.push('unchanged');
  return lines.map((l) => `criguard ${command}: ${l}\n`).join('');
}
