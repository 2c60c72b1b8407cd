import { stat } from 'node:fs/promises';
import { InstallError } from './errors.js';
import { onHost } from './host-layout.js';
import { readOptional } from './host-files.js';
import type { KubeletSourceKind } from './kubelet-endpoints.js';

/** One file that configures the kubelet's CRI endpoints, as read from the host. */
export interface KubeletSource {
  /** Host-absolute path. */
  readonly file: string;
  readonly kind: KubeletSourceKind;
  readonly text: string;
  /** The file's permission bits, kept when the installer rewrites it. */
  readonly mode: number;
}

/** Which kubelet files to look at (host-absolute paths). */
export interface KubeletFiles {
  readonly kubeletConfig: string;
  readonly kubeletFlagFiles: readonly string[];
}

const FLAG = /--(container-runtime-endpoint|image-service-endpoint)\b/;

/**
 * The kubelet's endpoint sources on the host: its KubeletConfiguration file if present, plus each flags file
 * that sets an endpoint flag. Throws CG_ERR_KUBELET_CONFIG_NOT_FOUND when there is none (criguard cannot
 * know how this kubelet is configured, and changes nothing).
 */
export async function readKubeletSources(hostRoot: string, files: KubeletFiles): Promise<KubeletSource[]> {
  const found: KubeletSource[] = [];
  const candidates: [string, KubeletSourceKind][] = [
    [files.kubeletConfig, 'config'],
    ...files.kubeletFlagFiles.map((f): [string, KubeletSourceKind] => [f, 'flags']),
  ];
  for (const [file, kind] of candidates) {
    const path = onHost(hostRoot, file);
    const text = await readOptional(path);
    if (text === undefined || (kind === 'flags' && !FLAG.test(text))) continue;
    found.push({ file, kind, text, mode: (await stat(path)).mode & 0o7777 });
  }
  if (found.length === 0) {
    throw new InstallError(
      'CG_ERR_KUBELET_CONFIG_NOT_FOUND',
      `no kubelet configuration found under the host root (looked for ${files.kubeletConfig} and endpoint ` +
        `flags in ${files.kubeletFlagFiles.join(', ')}); pass --kubelet-config`,
    );
  }
  return found;
}
