import { rm } from 'node:fs/promises';
import { readServeSettings } from './config-source.js';
import { InstallError } from './errors.js';
import { readOptional, removeFile, sha256, syncFile } from './host-files.js';
import { hostLayout, onHost, units } from './host-layout.js';
import type { InstallReport } from './install.js';
import { readInstallState } from './install-state.js';
import { pointsAt, restoreKubeletConfig, restoreKubeletFlags, toEndpointUrl } from './kubelet-endpoints.js';
import { readKubeletSources, type KubeletFiles } from './kubelet-sources.js';
import type { Systemctl } from './systemd.js';

/** What to uninstall. Paths in `kubeletConfig`/`kubeletFlagFiles` are host-absolute. */
export interface UninstallOptions extends KubeletFiles {
  readonly hostRoot: string;
  /** Also remove /etc/criguard (config, policy, breakglass), /var/lib/criguard and /var/log/criguard. */
  readonly purge: boolean;
}

/**
 * Removes criguard from the host below `hostRoot`, kubelet first: the kubelet's original endpoints are
 * put back (the recorded bytes when the file is still as criguard wrote it, else just the endpoint values)
 * and the drop-in removed → daemon-reload → kubelet restarted (so it talks to containerd directly) →
 * only then criguard's socket and service are stopped and disabled, and its units and binary removed. Throws
 * CG_ERR_KUBELET_ENDPOINT_UNKNOWN, before changing anything, when a kubelet file points at criguard but no
 * original value was recorded; CG_ERR_INSTALL_STATE, CG_ERR_HOST_COMMAND otherwise.
 */
export async function uninstallCriguard(
  opts: UninstallOptions,
  deps: { readonly systemctl?: Systemctl },
): Promise<InstallReport> {
  const root = opts.hostRoot;
  const report: InstallReport = { files: {}, actions: [], pending: [], warnings: [] };
  const state = await readInstallState(onHost(root, hostLayout.installState));
  const endpoint =
    state?.endpoint ??
    toEndpointUrl(
      readServeSettings(await readOptional(onHost(root, hostLayout.configFile)), hostLayout.configFile)
        .listen,
    );
  const sources = await readKubeletSources(root, opts).catch((err: unknown) => {
    if (err instanceof InstallError && err.code === 'CG_ERR_KUBELET_CONFIG_NOT_FOUND') return [];
    throw err;
  });
  for (const src of sources) {
    const record = state?.kubelet.find((r) => r.file === src.file);
    if (pointsAt(src.kind, src.text, endpoint) && Object.keys(record?.originals ?? {}).length === 0) {
      throw new InstallError(
        'CG_ERR_KUBELET_ENDPOINT_UNKNOWN',
        `${src.file} points the kubelet at ${endpoint} but criguard has no record of the original endpoint; ` +
          'set it back to containerd by hand, restart the kubelet, then run uninstall again',
      );
    }
  }

  // 1. The kubelet back to its own endpoints, before anything else is removed.
  let kubeletChanged = false;
  for (const record of state?.kubelet ?? []) {
    const path = onHost(root, record.file);
    const src = sources.find((s) => s.file === record.file);
    if (!src) {
      report.warnings.push(`${record.file} is gone; nothing to restore`);
      continue;
    }
    const backup = await readOptional(onHost(root, record.backup));
    let text: string;
    if (sha256(src.text) === record.writtenSha256 && backup !== undefined) {
      text = backup;
    } else {
      const restored =
        record.kind === 'config'
          ? restoreKubeletConfig(src.text, endpoint, record.originals)
          : restoreKubeletFlags(src.text, endpoint, record.originals);
      for (const key of restored.skipped) {
        report.warnings.push(`${record.file}: ${key} was changed after install; left as it is`);
      }
      text = restored.text;
    }
    const change = await syncFile(path, { content: text }, src.mode);
    report.files[record.file] = change;
    kubeletChanged ||= change !== 'unchanged';
  }
  if (await removeFile(onHost(root, hostLayout.kubeletDropIn)))
    report.files[hostLayout.kubeletDropIn] = 'removed';

  const sd = deps.systemctl;
  if (sd) {
    await act(report, 'daemon-reload', () => sd.daemonReload());
    if (kubeletChanged && (await sd.isActive(units.kubelet))) {
      await act(report, `restart ${units.kubelet}`, () => sd.restart(units.kubelet));
    }
    // 2. Now nothing talks to criguard any more. The socket first: stopped, it cannot start the service again.
    for (const unit of [units.socket, units.criguard]) {
      if (await sd.isActive(unit)) await act(report, `stop ${unit}`, () => sd.stop(unit));
    }
    for (const unit of [units.socket, units.criguard]) {
      if (await sd.isEnabled(unit)) await act(report, `disable ${unit}`, () => sd.disable(unit));
    }
  } else {
    // Without systemctl the unit must stay until it is disabled: the operator finishes in this order.
    report.pending.push('systemctl daemon-reload');
    if (kubeletChanged) report.pending.push(`systemctl restart ${units.kubelet}`);
    report.pending.push(`systemctl disable --now ${units.socket} ${units.criguard}`);
    report.pending.push(
      `rm ${hostLayout.socketUnit} ${hostLayout.unit} ${hostLayout.binary}`,
      'systemctl daemon-reload',
    );
  }

  // 3. criguard's files.
  const owned = sd
    ? [hostLayout.socketUnit, hostLayout.unit, hostLayout.binary, hostLayout.installState]
    : [hostLayout.installState];
  for (const file of owned) {
    if (await removeFile(onHost(root, file))) report.files[file] = 'removed';
  }
  await rm(onHost(root, hostLayout.kubeletBackupDir), { recursive: true, force: true });
  if (opts.purge) {
    for (const dir of [hostLayout.configDir, hostLayout.stateDir, hostLayout.logsDir]) {
      await rm(onHost(root, dir), { recursive: true, force: true });
      report.files[dir] = 'removed';
    }
  }
  if (sd) await act(report, 'daemon-reload', () => sd.daemonReload());
  return report;
}

async function act(report: InstallReport, what: string, run: () => Promise<void>): Promise<void> {
  await run();
  report.actions.push(what);
}
