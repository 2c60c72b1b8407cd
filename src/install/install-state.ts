import { z } from 'zod';
import { InstallError } from './errors.js';
import { syncFile, readOptional, type FileChange } from './host-files.js';

const kubeletPatchSchema = z.strictObject({
  /** Host-absolute path of the patched kubelet file. */
  file: z.string().startsWith('/'),
  kind: z.enum(['config', 'flags']),
  /** What criguard replaced: key or flag name → original value (null: the key was absent). */
  originals: z.record(z.string(), z.string().nullable()),
  /** SHA-256 of the file as criguard last wrote it; uninstall restores the backup bytes when it still matches. */
  writtenSha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Host-absolute path of a copy of the file as it was before criguard's last patch. */
  backup: z.string().startsWith('/'),
});

const installStateSchema = z.strictObject({
  schemaVersion: z.literal(1),
  criguardVersion: z.string(),
  /** The endpoint written into the kubelet's configuration (`unix:///run/criguard/criguard.sock`). */
  endpoint: z.string(),
  kubelet: z.array(kubeletPatchSchema),
  /** File names under /etc/criguard that came from the config source (removed when they leave it). */
  configFiles: z.array(z.string()),
});

/** What the installer remembers on the node (`/var/lib/criguard/install-state.json`, 0600). */
export type InstallState = z.infer<typeof installStateSchema>;
export type KubeletPatchRecord = z.infer<typeof kubeletPatchSchema>;

/** Reads the state file; undefined when there is none. Throws CG_ERR_INSTALL_STATE when it is unreadable. */
export async function readInstallState(path: string): Promise<InstallState | undefined> {
  const text = await readOptional(path);
  if (text === undefined) return undefined;
  try {
    return installStateSchema.parse(JSON.parse(text));
  } catch (err) {
    throw new InstallError(
      'CG_ERR_INSTALL_STATE',
      `${path} is not a valid criguard install state; fix or remove it by hand`,
      { cause: err },
    );
  }
}

/** Writes the state file atomically (0600); unchanged content is not rewritten. */
export function writeInstallState(path: string, state: InstallState): Promise<FileChange> {
  return syncFile(path, { content: `${JSON.stringify(state, null, 2)}\n` }, 0o600, 0o700);
}
