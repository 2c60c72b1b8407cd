import { rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Systemctl } from '../../src/install/systemd.js';
import { onProcessExit } from '../helpers/exit-hooks.js';

/** A kubeadm-style KubeletConfiguration as kubeadm 1.30 writes it. */
export const KUBELET_CONFIG = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# written by kubeadm
cgroupDriver: systemd
containerRuntimeEndpoint: unix:///var/run/containerd/containerd.sock
staticPodPath: /etc/kubernetes/manifests
`;
export const KUBEADM_FLAGS =
  'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.9"\n';
export const CRIGUARD_ENDPOINT = 'unix:///run/criguard/criguard.sock';

/** A temporary host root with a kubelet configured by kubeadm, a binary to install and a ConfigMap-like source. */
export async function createHost(): Promise<{
  root: string;
  binary: string;
  source: string;
  file: (hostPath: string) => string;
  read: (hostPath: string) => Promise<string>;
}> {
  const base = await mkdtemp(join(tmpdir(), 'criguard-host-'));
  onProcessExit(() => rmSync(base, { recursive: true, force: true }));
  const root = join(base, 'host');
  const file = (p: string) => join(root, p);
  await mkdir(file('/var/lib/kubelet'), { recursive: true });
  await writeFile(file('/var/lib/kubelet/config.yaml'), KUBELET_CONFIG, { mode: 0o644 });
  await writeFile(file('/var/lib/kubelet/kubeadm-flags.env'), KUBEADM_FLAGS, { mode: 0o644 });
  const binary = join(base, 'criguard-v1');
  await writeBinary(binary, 'v1');
  const source = join(base, 'configmap');
  await writeConfigMap(source, {
    'config.yaml': 'listen: /run/criguard/criguard.sock\nmetricsAddress: 127.0.0.1:9798\n',
    'policy.yaml': 'defaultAdmissionRule:\n  evaluationMode: ALWAYS_ALLOW\n',
  });
  return { root, binary, source, file, read: (p) => readFile(file(p), 'utf8') };
}

/** Writes a stand-in executable whose bytes differ by `version`. */
export async function writeBinary(path: string, version: string): Promise<void> {
  await writeFile(path, `#!/bin/sh\necho criguard ${version}\n`);
  await chmod(path, 0o755);
}

/** Lays out files the way a ConfigMap volume does: `..data` → timestamped dir, keys are symlinks into it. */
export async function writeConfigMap(dir: string, files: Record<string, string>): Promise<void> {
  const stamp = `..${Date.now()}_${Math.random().toString(16).slice(2)}`;
  await mkdir(join(dir, stamp), { recursive: true });
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, stamp, name), content);
  await symlink(stamp, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of await readdir(dir))
    if (!name.startsWith('..')) await rm(join(dir, name), { force: true });
  for (const name of Object.keys(files)) await symlink(join('..data', name), join(dir, name));
}

/** Ensures a directory for a file exists (for test set-up on the fake host). */
export async function ensureDir(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
}

/**
 * A systemctl that records mutating calls into `log` and keeps unit state, as the host's would.
 * Queries are not logged, so tests compare only what changes the host.
 */
export function createFakeSystemctl(
  log: string[],
): Systemctl & { active: Set<string>; enabled: Set<string> } {
  const active = new Set<string>(['kubelet.service']);
  const enabled = new Set<string>(['kubelet.service']);
  const record = async (what: string) => void log.push(what);
  return {
    active,
    enabled,
    daemonReload: () => record('daemon-reload'),
    isActive: async (unit) => active.has(unit),
    isEnabled: async (unit) => enabled.has(unit),
    enable: (unit) => (enabled.add(unit), record(`enable ${unit}`)),
    disable: (unit) => (enabled.delete(unit), record(`disable ${unit}`)),
    start: (unit) => (active.add(unit), record(`start ${unit}`)),
    stop: (unit) => (active.delete(unit), record(`stop ${unit}`)),
    restart: (unit) => (active.add(unit), record(`restart ${unit}`)),
    reload: (unit) => record(`reload ${unit}`),
  };
}
