import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, realpathSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { dirname } from 'node:path';
import { MAX_BREAKGLASS_BYTES } from './document.js';
import { toProblem, type BreakglassProblem } from './problems.js';

/** What reading the breakglass path found: nothing, an unsafe or unreadable file, or its bytes. */
export type BreakglassFileRead =
  | { readonly kind: 'absent' }
  | { readonly kind: 'unsafe'; readonly problem: BreakglassProblem }
  | {
      readonly kind: 'read';
      readonly bytes: Uint8Array;
      readonly sha256: string;
      /** The file's mtime (from the same fstat): when it was written. */
      readonly modifiedMs: number;
    };

/** Options of readBreakglassFile. */
export interface ReadBreakglassFileOptions {
  /** Owner the file and its directory must have; default 0 (root). Injectable for tests. */
  readonly expectedUid?: number;
  /** Largest file read; default MAX_BREAKGLASS_BYTES (64 KiB). */
  readonly maxBytes?: number;
}

const GROUP_OR_WORLD_WRITABLE = 0o022;
const STICKY = 0o1000;

/**
 * Opens `path` once (`O_RDONLY | O_NOFOLLOW | O_NONBLOCK`) and checks, on that descriptor, that it is a
 * regular file with exactly one link, owned by `expectedUid` and not group- or world-writable; checks that
 * its directory is a real directory (not a symlink) owned by `expectedUid` and not group- or
 * world-writable; then reads at most `maxBytes` from the same descriptor and hashes what it read
 * (`sha256:<hex>`). Problems: `CG_ERR_BREAKGLASS_SYMLINK`, `_NOT_REGULAR`, `_HARDLINK`, `_OWNER`, `_MODE`,
 * `_DIR_UNSAFE`, `_TOO_LARGE`, `_UNREADABLE`. A missing file (or directory) is `absent`. Never throws;
 * fail closed: any doubt is a problem, and a problem means the file is not honoured.
 */
export function readBreakglassFile(
  path: string,
  options: ReadBreakglassFileOptions = {},
): BreakglassFileRead {
  const expectedUid = options.expectedUid ?? 0;
  const maxBytes = options.maxBytes ?? MAX_BREAKGLASS_BYTES;
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'absent' };
    if (code === 'ELOOP') return unsafe('CG_ERR_BREAKGLASS_SYMLINK', `${path} is a symbolic link`);
    if (code === 'EISDIR') return unsafe('CG_ERR_BREAKGLASS_NOT_REGULAR', `${path} is a directory`);
    return unsafe('CG_ERR_BREAKGLASS_UNREADABLE', `cannot open ${path}: ${code ?? String(err)}`);
  }
  try {
    const st = fstatSync(fd);
    // Unlinked between open and fstat: the file is gone; the next check sees the path as it is now.
    if (st.nlink === 0) return { kind: 'absent' };
    const problem =
      checkFile(path, st, expectedUid) ??
      checkDirectory(dirname(path), expectedUid) ??
      checkAncestors(dirname(path), expectedUid);
    if (problem) return { kind: 'unsafe', problem };
    if (st.size > maxBytes) return unsafe('CG_ERR_BREAKGLASS_TOO_LARGE', `${path} is over ${maxBytes} bytes`);
    const bytes = readBounded(fd, maxBytes);
    if (bytes === undefined)
      return unsafe('CG_ERR_BREAKGLASS_TOO_LARGE', `${path} is over ${maxBytes} bytes`);
    return {
      kind: 'read',
      bytes,
      sha256: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
      modifiedMs: st.mtimeMs,
    };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return unsafe('CG_ERR_BREAKGLASS_UNREADABLE', `cannot read ${path}: ${code ?? String(err)}`);
  } finally {
    closeSync(fd);
  }
}

function checkFile(path: string, st: Stats, expectedUid: number): BreakglassProblem | undefined {
  if (!st.isFile()) return toProblem('CG_ERR_BREAKGLASS_NOT_REGULAR', `${path} is not a regular file`);
  if (st.nlink !== 1) {
    return toProblem('CG_ERR_BREAKGLASS_HARDLINK', `${path} has ${st.nlink} hard links (must be 1)`);
  }
  if (st.uid !== expectedUid) {
    return toProblem('CG_ERR_BREAKGLASS_OWNER', `${path} is owned by uid ${st.uid}, not ${expectedUid}`);
  }
  if ((st.mode & GROUP_OR_WORLD_WRITABLE) !== 0) {
    return toProblem(
      'CG_ERR_BREAKGLASS_MODE',
      `${path} is group- or world-writable (mode ${octal(st.mode)})`,
    );
  }
  return undefined;
}

// The directory is checked by path without following a symlink: Node has no openat(), so a symlinked
// directory is refused outright rather than resolved.
function checkDirectory(dir: string, expectedUid: number): BreakglassProblem | undefined {
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return toProblem('CG_ERR_BREAKGLASS_DIR_UNSAFE', `cannot check directory ${dir}: ${code ?? String(err)}`);
  }
  if (!st.isDirectory())
    return toProblem('CG_ERR_BREAKGLASS_DIR_UNSAFE', `${dir} is not a directory (symlink?)`);
  if (st.uid !== expectedUid) {
    return toProblem('CG_ERR_BREAKGLASS_DIR_UNSAFE', `${dir} is owned by uid ${st.uid}, not ${expectedUid}`);
  }
  if ((st.mode & GROUP_OR_WORLD_WRITABLE) !== 0) {
    return toProblem(
      'CG_ERR_BREAKGLASS_DIR_UNSAFE',
      `${dir} is group- or world-writable (mode ${octal(st.mode)})`,
    );
  }
  return undefined;
}

/**
 * Every directory above the file's own, up to `/` (symlinks resolved first): owned by root (or the
 * expected owner) and not writable by group or others unless sticky (like /tmp, where others cannot
 * rename or remove root's entries). Otherwise someone else could swap the path to the file.
 */
function checkAncestors(dir: string, expectedUid: number): BreakglassProblem | undefined {
  let current: string;
  try {
    current = dirname(realpathSync(dir));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return toProblem('CG_ERR_BREAKGLASS_DIR_UNSAFE', `cannot resolve ${dir}: ${code ?? String(err)}`);
  }
  for (;;) {
    let st: Stats;
    try {
      st = lstatSync(current);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return toProblem('CG_ERR_BREAKGLASS_DIR_UNSAFE', `cannot check ${current}: ${code ?? String(err)}`);
    }
    if (st.uid !== 0 && st.uid !== expectedUid) {
      return toProblem('CG_ERR_BREAKGLASS_DIR_UNSAFE', `${current} is owned by uid ${st.uid}`);
    }
    if ((st.mode & GROUP_OR_WORLD_WRITABLE) !== 0 && (st.mode & STICKY) === 0) {
      return toProblem(
        'CG_ERR_BREAKGLASS_DIR_UNSAFE',
        `${current} is writable by others (mode ${octal(st.mode)})`,
      );
    }
    const parent = dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
}

/** Reads up to maxBytes; undefined when the descriptor holds more (the file grew after fstat). */
function readBounded(fd: number, maxBytes: number): Uint8Array | undefined {
  const buffer = Buffer.alloc(maxBytes + 1);
  let length = 0;
  for (;;) {
    const n = readSync(fd, buffer, length, buffer.length - length, null);
    if (n === 0) break;
    length += n;
    if (length > maxBytes) return undefined;
  }
  return new Uint8Array(buffer.subarray(0, length));
}

function unsafe(code: BreakglassProblem['code'], message: string): BreakglassFileRead {
  return { kind: 'unsafe', problem: toProblem(code, message) };
}

function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8)}`;
}
