import { join } from 'node:path';
import { SERVE_SETTINGS } from '../config/serve-settings.js';

/** Where criguard lives on a node, as absolute host paths (joined to the host root with `onHost`). */
export const hostLayout = Object.freeze({
  binary: '/usr/local/bin/criguard',
  unit: '/etc/systemd/system/criguard.service',
  socketUnit: '/etc/systemd/system/criguard.socket',
  kubeletDropIn: '/etc/systemd/system/kubelet.service.d/10-criguard.conf',
  configDir: '/etc/criguard',
  configFile: '/etc/criguard/config.yaml',
  stateDir: '/var/lib/criguard',
  logsDir: '/var/log/criguard',
  installState: '/var/lib/criguard/install-state.json',
  kubeletBackupDir: '/var/lib/criguard/kubelet-backup',
  /** kubeadm's KubeletConfiguration file. */
  kubeletConfig: '/var/lib/kubelet/config.yaml',
  /** Files that may carry `--container-runtime-endpoint` / `--image-service-endpoint` kubelet flags. */
  kubeletFlagFiles: Object.freeze([
    '/var/lib/kubelet/kubeadm-flags.env',
    '/etc/default/kubelet',
    '/etc/sysconfig/kubelet',
  ]),
});

/** systemd unit names the installer drives. */
export const units = Object.freeze({
  criguard: 'criguard.service',
  socket: 'criguard.socket',
  kubelet: 'kubelet.service',
});

/** Defaults of `criguard serve` that the installer needs to know (listen socket, metrics address). */
export const serveDefaults = Object.freeze({
  listen: SERVE_SETTINGS.listen.default,
  metricsAddress: SERVE_SETTINGS.metricsAddress.default,
});

/** `absolutePath` under `hostRoot` (the host's `/` as this process sees it, e.g. `/host` in a pod). */
export function onHost(hostRoot: string, absolutePath: string): string {
  return join(hostRoot, absolutePath);
}
