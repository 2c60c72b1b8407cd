import { lstatSync, mkdirSync, realpathSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { octal } from './read-regular-file.js';

const GROUP_OR_WORLD_WRITABLE = 0o022;
const STICKY = 0o1000;

/**
 * Why `dir` cannot be trusted to hold state only `uid` wrote, or undefined when it can: it must be a real
 * directory (not a symlink) owned by `uid` and not writable by group or others, and every directory above it
 * (symlinks resolved) owned by root or `uid` and not writable by others unless sticky (like /tmp). The same
 * rules as the breakglass file's directory. Never throws.
 */
export function privateDirectoryProblem(dir: string, uid: number): string | undefined {
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch (err) {
    return `cannot check ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
  if (!st.isDirectory()) return `${dir} is not a directory (a symlink?)`;
  if (st.uid !== uid) return `${dir} is owned by uid ${st.uid}, not ${uid}`;
  if ((st.mode & GROUP_OR_WORLD_WRITABLE) !== 0)
    return `${dir} is group- or world-writable (mode ${octal(st.mode)})`;
  let current: string;
  try {
    current = dirname(realpathSync(dir));
  } catch (err) {
    return `cannot resolve ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
  for (;;) {
    let above: Stats;
    try {
      above = lstatSync(current);
    } catch (err) {
      return `cannot check ${current}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
    }
    if (above.uid !== 0 && above.uid !== uid) return `${current} is owned by uid ${above.uid}`;
    if ((above.mode & GROUP_OR_WORLD_WRITABLE) !== 0 && (above.mode & STICKY) === 0)
      return `${current} is writable by others (mode ${octal(above.mode)})`;
    const parent = dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
}

/**
 * Creates `dir` (mode 0700, parents as needed) when it is missing, then returns privateDirectoryProblem.
 * An existing directory is never chmod-ed: an unsafe one stays unsafe and is reported, since whatever it
 * holds may already have been planted.
 */
export function preparePrivateDirectory(dir: string, uid: number): string | undefined {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    return `cannot create ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
  return privateDirectoryProblem(dir, uid);
}
