import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CriguardError } from '../errors/criguard-error.js';
import type { BreakglassProblemCode } from './problems.js';

/** Owner given to a written breakglass file; default root (0:0). */
export interface BreakglassFileOwner {
  readonly uid?: number;
  readonly gid?: number;
}

/**
 * Writes `text` to `path` atomically: the directory is created with mode 0700 if missing; a temporary file
 * is created exclusively (`O_EXCL | O_NOFOLLOW`) in the same directory, owned by `owner` (default root) with
 * mode 0600, written, fsynced and renamed over `path` (replacing a file or a symlink, never following it);
 * then the directory is fsynced. Readers see the old file or the new one, never a mix. Throws the
 * underlying fs error (e.g. `EPERM` when not root); the temporary file is removed on failure.
 */
export function writeBreakglassFileAtomically(
  path: string,
  text: string,
  owner: BreakglassFileOwner = {},
): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(
    temp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  let renamed = false;
  try {
    try {
      writeFileSync(fd, text);
      fchownSync(fd, owner.uid ?? 0, owner.gid ?? 0);
      fchmodSync(fd, 0o600);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
    renamed = true;
    syncDirectory(dir);
  } finally {
    if (!renamed) {
      try {
        unlinkSync(temp);
      } catch {
        // Already gone; nothing to clean up.
      }
    }
  }
}

/** What removeBreakglassFile did. */
export type BreakglassRemoval = 'removed' | 'absent';

/**
 * Removes the breakglass file at `path` if it is a regular file or a symlink (unlink never follows a
 * symlink, so its target is untouched); `absent` when there is nothing. Throws an Error with code
 * `CG_ERR_BREAKGLASS_NOT_REGULAR` for anything else (a directory, a FIFO), or the fs error.
 */
export function removeBreakglassFile(path: string): BreakglassRemoval {
  let isRemovable: boolean;
  try {
    const st = lstatSync(path);
    isRemovable = st.isFile() || st.isSymbolicLink();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw err;
  }
  if (!isRemovable) {
    throw new CriguardError<BreakglassProblemCode>(
      'CG_ERR_BREAKGLASS_NOT_REGULAR',
      `${path} is not a regular file or a symlink; not removed`,
    );
  }
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw err;
  }
  syncDirectory(dirname(path));
  return 'removed';
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
