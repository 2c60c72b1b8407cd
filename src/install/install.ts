import { access, constants, stat } from 'node:fs/promises';
import { readConfigSource, readServeSettings, type ConfigFiles } from './config-source.js';
import { InstallError } from './errors.js';
import { criguardServiceUnit, criguardSocketUnit, kubeletDropIn } from './generated/units.js';
import { readOptional, removeFile, sha256, syncFile, type FileChange } from './host-files.js';
import { hostLayout, onHost, serveDefaults, units } from './host-layout.js';
import { readInstallState, writeInstallState, type KubeletPatchRecord } from './install-state.js';
import { patchKubeletConfig, patchKubeletFlags, pointsAt, toEndpointUrl } from './kubelet-endpoints.js';
import { readKubeletSources, type KubeletFiles } from './kubelet-sources.js';
import type { Systemctl } from './systemd.js';

/** What to install, and where. Paths in `kubeletConfig`/`kubeletFlagFiles` are host-absolute. */
export interface InstallOptions extends KubeletFiles {
  /** The host's `/` as seen by this process (`/` on the host, `/host` in the DaemonSet pod). */
  readonly hostRoot: string;
  /** The criguard executable to install (normally the running single-file executable). */
  readonly binary: string;
  /** A directory (the ConfigMap mount) whose files go to /etc/criguard; none: the host's config is kept. */
  readonly configSource?: string;
  /** Restart the kubelet when its endpoints were changed (after criguard is ready). */
  readonly restartKubelet: boolean;
  /** Restart criguard when its binary, unit or config.yaml changed (else it is reported as pending). */
  readonly restartCriguard: boolean;
  /** Recorded in the install state. */
  readonly version: string;
}

/** What the installer needs from the host besides files. */
export interface InstallDeps {
  /** The host's systemctl; undefined (`--host-exec none`): systemd steps are reported as pending. */
  readonly systemctl?: Systemctl;
  /** Resolves once criguard answers ready on `metricsAddress`; throws CG_ERR_CRIGUARD_NOT_READY. */
  readonly waitReady: (metricsAddress: string) => Promise<void>;
}

/** What an install or uninstall did. File paths are host-absolute. */
export interface InstallReport {
  readonly files: Record<string, FileChange | 'removed'>;
  /** systemctl operations run, in order, e.g. `restart criguard.service`. */
  readonly actions: string[];
  /** Steps left to the operator (systemctl commands to run), in order. */
  readonly pending: string[];
  readonly warnings: string[];
}

/**
 * Installs or upgrades criguard on the host below `hostRoot`, idempotently: files whose content, mode and
 * owner are right are not written. Order: binary, units (criguard.service, criguard.socket), kubelet
 * drop-in and /etc/criguard files → daemon-reload → socket and service enabled, socket started, service
 * (re)started → wait until ready → only then the kubelet's endpoints
 * are pointed at criguard (originals recorded first) → kubelet restarted if asked. Running containers are
 * never touched. Throws InstallError (CG_ERR_INSTALL_*, CG_ERR_KUBELET_*, CG_ERR_HOST_COMMAND,
 * CG_ERR_CRIGUARD_NOT_READY); every input is checked before the first write.
 */
export async function installCriguard(opts: InstallOptions, deps: InstallDeps): Promise<InstallReport> {
  const root = opts.hostRoot;
  const report: InstallReport = { files: {}, actions: [], pending: [], warnings: [] };
  const warn = (message: string) => void report.warnings.push(message);

  // Preflight: everything is read and checked before the first write.
  await assertHostRoot(root);
  await assertExecutable(opts.binary);
  const previous = await readInstallState(onHost(root, hostLayout.installState));
  const source =
    opts.configSource === undefined ? undefined : await readConfigSource(opts.configSource, warn);
  const configYaml =
    source?.get('config.yaml')?.toString('utf8') ?? (await readOptional(onHost(root, hostLayout.configFile)));
  if (configYaml === undefined)
    warn(`${hostLayout.configFile} does not exist: criguard serve uses its defaults`);
  const settings = readServeSettings(configYaml, hostLayout.configFile);
  const endpoint = toEndpointUrl(settings.listen);
  if (endpoint !== toEndpointUrl(serveDefaults.listen)) {
    // criguard.socket binds the default path; criguard refuses a passed socket bound elsewhere.
    throw new InstallError(
      'CG_ERR_INSTALL_CONFIG_SOURCE',
      `${hostLayout.configFile}: listen must be ${serveDefaults.listen} (the path criguard.socket holds), not ${settings.listen}`,
    );
  }
  const kubeletSources = await readKubeletSources(root, opts);

  // 1. criguard's own files.
  const put = async (file: string, change: Promise<FileChange>) => (report.files[file] = await change);
  await put(hostLayout.binary, syncFile(onHost(root, hostLayout.binary), { copyFrom: opts.binary }, 0o755));
  await put(
    hostLayout.unit,
    syncFile(onHost(root, hostLayout.unit), { content: criguardServiceUnit }, 0o644),
  );
  await put(
    hostLayout.socketUnit,
    syncFile(onHost(root, hostLayout.socketUnit), { content: criguardSocketUnit }, 0o644),
  );
  await put(
    hostLayout.kubeletDropIn,
    syncFile(onHost(root, hostLayout.kubeletDropIn), { content: kubeletDropIn }, 0o644),
  );
  const configFiles = source ? await syncConfigFiles(root, source, previous?.configFiles ?? [], report) : [];
  const changed = (file: string) => (report.files[file] ?? 'unchanged') !== 'unchanged';
  const otherConfigChanged = Object.keys(report.files).some(
    (f) => f.startsWith(`${hostLayout.configDir}/`) && f !== hostLayout.configFile && changed(f),
  );

  // 2. criguard running the new files, and ready.
  const sd = deps.systemctl;
  const unitsChanged =
    changed(hostLayout.unit) || changed(hostLayout.socketUnit) || changed(hostLayout.kubeletDropIn);
  const restartNeeded =
    changed(hostLayout.binary) || changed(hostLayout.unit) || changed(hostLayout.configFile);
  if (sd) {
    if (unitsChanged) await act(report, 'daemon-reload', () => sd.daemonReload());
    await startCriguard(sd, report, { restartNeeded, otherConfigChanged, restart: opts.restartCriguard });
    if (
      report.files[hostLayout.socketUnit] === 'updated' &&
      !report.actions.includes(`start ${units.socket}`)
    ) {
      // Restarting the socket closes the kubelet's endpoint for a moment: the operator chooses when.
      warn(`${units.socket} changed: it takes effect when the socket is restarted`);
      report.pending.push(`systemctl restart ${units.socket} ${units.criguard}`);
    }
    await deps.waitReady(settings.metricsAddress);
  } else {
    if (unitsChanged) report.pending.push('systemctl daemon-reload');
    report.pending.push(
      restartNeeded
        ? `systemctl enable ${units.socket} ${units.criguard} && systemctl start ${units.socket} && systemctl restart ${units.criguard}`
        : `systemctl enable --now ${units.socket} ${units.criguard}`,
    );
  }

  // 3. The kubelet's endpoints → criguard. The original values are recorded before the first change.
  const records: KubeletPatchRecord[] = [];
  const writes: (() => Promise<void>)[] = [];
  for (const src of kubeletSources) {
    const before = previous?.kubelet.find((r) => r.file === src.file);
    const patch =
      src.kind === 'config' ? patchKubeletConfig(src.text, endpoint) : patchKubeletFlags(src.text, endpoint);
    if (!patch.changed) {
      if (before) records.push(before);
      else if (pointsAt(src.kind, src.text, endpoint)) {
        warn(
          `${src.file} already points at ${endpoint} but criguard did not change it: uninstall will not restore it`,
        );
      }
      continue;
    }
    const backup = `${hostLayout.kubeletBackupDir}/${src.file.slice(1).replaceAll('/', '_')}`;
    records.push({
      file: src.file,
      kind: src.kind,
      originals: { ...before?.originals, ...patch.originals },
      writtenSha256: sha256(patch.text),
      backup,
    });
    writes.push(async () => {
      await syncFile(onHost(root, backup), { content: src.text }, 0o600, 0o700);
      await put(src.file, syncFile(onHost(root, src.file), { content: patch.text }, src.mode));
    });
  }
  const state = {
    schemaVersion: 1 as const,
    criguardVersion: opts.version,
    endpoint,
    kubelet: records,
    configFiles,
  };
  await put(hostLayout.installState, writeInstallState(onHost(root, hostLayout.installState), state));
  for (const write of writes) await write();

  if (writes.length > 0) {
    if (sd && opts.restartKubelet) {
      if (await sd.isActive(units.kubelet))
        await act(report, `restart ${units.kubelet}`, () => sd.restart(units.kubelet));
    } else {
      report.pending.push(`systemctl restart ${units.kubelet}`);
    }
  }
  return report;
}

/** Copies the config source to /etc/criguard; files that left the source (and came from it) are removed. */
async function syncConfigFiles(
  root: string,
  source: ConfigFiles,
  previousNames: readonly string[],
  report: InstallReport,
): Promise<string[]> {
  for (const [name, content] of source) {
    const file = `${hostLayout.configDir}/${name}`;
    const mode = name === 'config.yaml' ? 0o644 : 0o600;
    report.files[file] = await syncFile(onHost(root, file), { content }, mode, 0o700);
  }
  for (const name of previousNames) {
    const file = `${hostLayout.configDir}/${name}`;
    if (!source.has(name) && (await removeFile(onHost(root, file)))) report.files[file] = 'removed';
  }
  return [...source.keys()];
}

/**
 * Enables criguard.socket and criguard.service and brings them to the installed files. The socket is
 * started before the service (which then serves it); a running service that predates the socket (an
 * upgrade from a version without socket activation) is restarted so that it takes the socket over — with
 * `restart: false` both steps are left pending together, because a socket no process serves would hold the
 * kubelet's calls forever.
 */
async function startCriguard(
  sd: Systemctl,
  report: InstallReport,
  when: { readonly restartNeeded: boolean; readonly otherConfigChanged: boolean; readonly restart: boolean },
): Promise<void> {
  for (const unit of [units.socket, units.criguard]) {
    if (!(await sd.isEnabled(unit))) await act(report, `enable ${unit}`, () => sd.enable(unit));
  }
  const socketActive = await sd.isActive(units.socket);
  if (!(await sd.isActive(units.criguard))) {
    if (!socketActive) await act(report, `start ${units.socket}`, () => sd.start(units.socket));
    await act(report, `start ${units.criguard}`, () => sd.start(units.criguard));
  } else if (!socketActive || when.restartNeeded) {
    if (when.restart) {
      if (!socketActive) await act(report, `start ${units.socket}`, () => sd.start(units.socket));
      await act(report, `restart ${units.criguard}`, () => sd.restart(units.criguard));
    } else {
      report.pending.push(
        socketActive
          ? `systemctl restart ${units.criguard}`
          : `systemctl start ${units.socket} && systemctl restart ${units.criguard}`,
      );
    }
  } else if (when.otherConfigChanged) {
    await act(report, `reload ${units.criguard}`, () => sd.reload(units.criguard));
  }
}

async function act(report: InstallReport, what: string, run: () => Promise<void>): Promise<void> {
  await run();
  report.actions.push(what);
}

async function assertHostRoot(root: string): Promise<void> {
  const st = await stat(root).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new InstallError('CG_ERR_INSTALL_HOST_ROOT', `host root ${root} is not a directory`);
  }
}

async function assertExecutable(binary: string): Promise<void> {
  const st = await stat(binary).catch(() => undefined);
  const ok =
    st?.isFile() === true &&
    (await access(binary, constants.X_OK).then(
      () => true,
      () => false,
    ));
  if (!ok) throw new InstallError('CG_ERR_INSTALL_BINARY', `${binary} is not an executable file`);
}
