import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { CriguardError } from '../errors/criguard-error.js';

/** Why a file was not read. */
export type FileReadErrorCode =
  /** The file does not exist (the system's ENOENT), so callers can tell "absent" apart. */
  | 'CG_ERR_FILE_NOT_FOUND'
  /** A FIFO, socket, device or directory: never read (a FIFO would block a reader forever). */
  | 'CG_ERR_FILE_NOT_REGULAR'
  /** A symbolic link where `noFollow` was asked. */
  | 'CG_ERR_FILE_SYMLINK'
  | 'CG_ERR_FILE_TOO_LARGE'
  /** Not private where `private` was asked: wrong owner, extra hard links, or a mode others could use. */
  | 'CG_ERR_FILE_UNSAFE'
  /** Could not be opened or read (permission, I/O error). */
  | 'CG_ERR_FILE_UNREADABLE';

/** A file criguard refused or failed to read; `message` names the path. */
export class FileReadError extends CriguardError<FileReadErrorCode> {
  constructor(code: FileReadErrorCode, message: string) {
    super(code, message);
    this.name = 'FileReadError';
  }
}

/** Options of readRegularFileSync. */
export interface ReadRegularFileOptions {
  /** Largest file read, in bytes. */
  readonly maxBytes: number;
  /** Refuse a symbolic link at `path` itself (`O_NOFOLLOW`); default false (ConfigMap mounts use links). */
  readonly noFollow?: boolean;
  /**
   * Require a private file: exactly one hard link, owned by `uid`, and none of `forbiddenModeBits` set
   * (for example 0o022: nobody else may write it; 0o077: nobody else may read or write it).
   */
  readonly private?: { readonly uid: number; readonly forbiddenModeBits: number };
}

/** What was read, with the fstat of the very descriptor the bytes came from. */
export interface RegularFileContent {
  readonly bytes: Buffer;
  readonly stats: Stats;
}

/**
 * Reads a file an operator or a tenant may have replaced, without ever blocking: opened once with
 * `O_RDONLY | O_NONBLOCK` (a FIFO opens at once instead of waiting for a writer), checked on that descriptor
 * to be a regular file no larger than `maxBytes`, then read from the same descriptor (a file that grew past
 * the bound since fstat is refused too). Throws FileReadError; never returns partial content.
 */
export function readRegularFileSync(path: string, options: ReadRegularFileOptions): RegularFileContent {
  const flags =
    constants.O_RDONLY | constants.O_NONBLOCK | (options.noFollow === true ? constants.O_NOFOLLOW : 0);
  let fd: number;
  try {
    fd = openSync(path, flags);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new FileReadError('CG_ERR_FILE_NOT_FOUND', `${path} does not exist`);
    if (code === 'ELOOP' && options.noFollow === true)
      throw new FileReadError('CG_ERR_FILE_SYMLINK', `${path} is a symbolic link`);
    if (code === 'EISDIR') throw new FileReadError('CG_ERR_FILE_NOT_REGULAR', `${path} is a directory`);
    throw new FileReadError('CG_ERR_FILE_UNREADABLE', `cannot open ${path}: ${code ?? String(err)}`);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile())
      throw new FileReadError('CG_ERR_FILE_NOT_REGULAR', `${path} is not a regular file (${kindOf(stats)})`);
    if (options.private) checkPrivate(path, stats, options.private);
    if (stats.size > options.maxBytes) throw tooLarge(path, options.maxBytes);
    // Sized from fstat plus one byte (to see growth), grown up to maxBytes + 1 if the file grew meanwhile.
    let buffer = Buffer.alloc(Math.min(stats.size, options.maxBytes) + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (length > options.maxBytes) throw tooLarge(path, options.maxBytes);
        const grown = Buffer.alloc(Math.min(buffer.length * 2, options.maxBytes + 1));
        buffer.copy(grown);
        buffer = grown;
      }
      const n = readSync(fd, buffer, length, buffer.length - length, length);
      if (n === 0) break;
      length += n;
    }
    return { bytes: buffer.subarray(0, length), stats };
  } catch (err) {
    if (err instanceof FileReadError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new FileReadError('CG_ERR_FILE_UNREADABLE', `cannot read ${path}: ${code ?? String(err)}`);
  } finally {
    closeSync(fd);
  }
}

function checkPrivate(
  path: string,
  stats: Stats,
  rule: NonNullable<ReadRegularFileOptions['private']>,
): void {
  const unsafe = (why: string) => new FileReadError('CG_ERR_FILE_UNSAFE', `${path} ${why}`);
  if (stats.nlink !== 1) throw unsafe(`has ${stats.nlink} hard links (must be 1)`);
  if (stats.uid !== rule.uid) throw unsafe(`is owned by uid ${stats.uid}, not ${rule.uid}`);
  if ((stats.mode & rule.forbiddenModeBits) !== 0) throw unsafe(`has mode ${octal(stats.mode)} (too open)`);
}

/** `0755`-style text of a mode's permission bits. */
export function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8)}`;
}

function tooLarge(path: string, maxBytes: number): FileReadError {
  return new FileReadError('CG_ERR_FILE_TOO_LARGE', `${path} is over ${maxBytes} bytes`);
}

/** A human name for a non-regular file type. */
export function kindOf(stats: Stats): string {
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}
