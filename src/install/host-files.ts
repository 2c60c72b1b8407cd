import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, chown, copyFile, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** What syncing one file did. */
export type FileChange = 'created' | 'updated' | 'unchanged';

/** Content to place: bytes in memory, or a file to copy (compared by SHA-256, copied without buffering). */
export type FileSource = { readonly content: string | Uint8Array } | { readonly copyFrom: string };

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Makes `path` hold `source` with `mode`, owned by root (when running as root). Writes only on a
 * difference: same bytes, mode and owner → 'unchanged' and nothing touched; same bytes but wrong mode or
 * owner → fixed in place ('updated'). New content goes to a temporary file in the same directory, is
 * fsynced, then renamed over `path`, so readers (criguard's reload, the kubelet) see the old or the new
 * file, never a partial one. Parent directories are created with `dirMode`. Throws the fs error.
 */
export async function syncFile(
  path: string,
  source: FileSource,
  mode: number,
  dirMode = 0o755,
): Promise<FileChange> {
  const current = await stat(path).catch(() => undefined);
  const wanted = 'content' in source ? sha256(source.content) : await sha256File(source.copyFrom);
  if (current?.isFile() && (await sha256File(path)) === wanted) {
    if ((current.mode & 0o7777) === mode && (!isRoot || (current.uid === 0 && current.gid === 0))) {
      return 'unchanged';
    }
    await chmod(path, mode);
    if (isRoot) await chown(path, 0, 0);
    return 'updated';
  }
  await mkdir(dirname(path), { recursive: true, mode: dirMode });
  const tmp = join(dirname(path), `.${basename(path)}.criguard-${randomBytes(6).toString('hex')}`);
  try {
    if ('content' in source) {
      const handle = await open(tmp, 'wx', mode);
      try {
        await handle.writeFile(source.content);
        await handle.sync();
      } finally {
        await handle.close();
      }
    } else {
      await copyFile(source.copyFrom, tmp);
      const handle = await open(tmp, 'r+');
      await handle.sync().finally(() => handle.close());
    }
    await chmod(tmp, mode); // the umask may have narrowed it
    if (isRoot) await chown(tmp, 0, 0);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDirectory(dirname(path));
  return current ? 'updated' : 'created';
}

/** Removes `path` if it exists; true when something was removed. */
export async function removeFile(path: string): Promise<boolean> {
  const existed = await stat(path).then(
    () => true,
    () => false,
  );
  await rm(path, { force: true });
  return existed;
}

/** The file's contents, or undefined when it does not exist. Other errors are thrown. */
export async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Hex SHA-256 of `data`. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Hex SHA-256 of a file, streamed (the binary is ~100 MB). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  await handle.sync().finally(() => handle.close());
}
