/**
 * The single-file executable (scripts/package.mjs) for tests, built at most once per bundle: ava runs each
 * test file in its own process, so the build goes into a cache directory keyed by the hash of what is
 * packaged (the bundle, package.mjs and the runtime it pins, the version), under a lock, and appears there by an
 * atomic rename. A second file asking for the same bundle waits for the first build and reuses it.
 *
 * The bundle is snapshotted before packaging (dist/criguard.cjs may be rebuilt by someone else meanwhile),
 * so the cache key always describes the bytes inside the binary.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  access,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where built binaries are kept: `CRIGUARD_SEA_CACHE`, else node_modules/.cache/criguard-sea. */
const CACHE = resolve(process.env.CRIGUARD_SEA_CACHE ?? 'node_modules/.cache/criguard-sea');
/** A lock older than this is taken to be left over by a killed build (a build takes ~20-60 s). */
const STALE_LOCK_MS = 5 * 60_000;
/** Cache entries for other bundles unused for this long are removed (each is ~85 MiB; src changes often). */
const PRUNE_AFTER_MS = 15 * 60_000;

export interface PackagedBinary {
  /** Absolute path of the executable. */
  readonly path: string;
  /** Whether this process built it (false: cache hit, or given by CRIGUARD_SEA_BINARY). */
  readonly built: boolean;
  /** The `.sha256` file next to it (`<hex>  criguard`), when there is one. */
  readonly sha256File: string | undefined;
}

let memo: Promise<PackagedBinary> | undefined;

/**
 * The packaged criguard: `CRIGUARD_SEA_BINARY` when set, else the cached build of the current
 * dist/criguard.cjs (built with scripts/build.mjs first if missing), building it if needed.
 */
export function packagedBinary(): Promise<PackagedBinary> {
  memo ??= resolveBinary();
  return memo;
}

async function resolveBinary(): Promise<PackagedBinary> {
  const given = process.env.CRIGUARD_SEA_BINARY;
  if (given) return { path: resolve(given), built: false, sha256File: undefined };
  await access('dist/criguard.cjs').catch(() => run(process.execPath, ['scripts/build.mjs']));
  await mkdir(CACHE, { recursive: true });
  // Snapshot the inputs, then key the cache by exactly those bytes.
  const snapshot = await mkdtemp(join(CACHE, '.src-'));
  try {
    await mkdir(join(snapshot, 'dist'));
    await copyFile('dist/criguard.cjs', join(snapshot, 'dist', 'criguard.cjs'));
    await copyFile('package.json', join(snapshot, 'package.json'));
    const hash = createHash('sha256');
    for (const file of [join(snapshot, 'dist', 'criguard.cjs'), join(snapshot, 'package.json')]) {
      hash.update(await readFile(file));
    }
    // The scripts fix the embedded runtime (scripts/node-runtime.mjs pins it), not the Node running the tests.
    hash.update(await readFile('scripts/package.mjs'));
    hash.update(await readFile('scripts/node-runtime.mjs'));
    hash.update(await readFile('scripts/deb.mjs')); // package.mjs imports it
    const key = hash.digest('hex').slice(0, 24);
    const entry = join(CACHE, key);
    const path = join(entry, 'criguard');
    const built = await withLock(join(CACHE, `${key}.lock`), async () => {
      if (await exists(path)) return false;
      await build(snapshot, entry);
      return true;
    });
    const now = new Date();
    await utimes(entry, now, now).catch(() => undefined); // marks it used, for pruning
    await prune(key);
    return { path, built, sha256File: join(entry, 'criguard.sha256') };
  } finally {
    await rm(snapshot, { recursive: true, force: true });
  }
}

/** Packages `snapshot/dist/criguard.cjs` into a temporary directory, then renames it to `entry`. */
async function build(snapshot: string, entry: string): Promise<void> {
  const staging = await mkdtemp(join(CACHE, '.build-'));
  try {
    // cwd = the snapshot: package.mjs reads dist/criguard.cjs and package.json relative to it.
    await run(
      process.execPath,
      [resolve('scripts/package.mjs'), '--skip-build', '--no-deb', `--out=${join(staging, 'criguard')}`],
      { cwd: snapshot, maxBuffer: 1 << 24 },
    );
    await rename(staging, entry);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Runs `fn` holding a lock directory (mkdir is atomic); waits for another holder, breaks a dead one's. */
async function withLock<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => ''));
    const age =
      Date.now() -
      (await stat(lock)
        .then((s) => s.mtimeMs)
        .catch(() => Date.now()));
    if ((owner > 0 && !alive(owner)) || age > STALE_LOCK_MS) {
      await rm(lock, { recursive: true, force: true });
      continue;
    }
    await sleep(250);
  }
  try {
    await writeFile(join(lock, 'pid'), String(process.pid));
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Removes other bundles' binaries unused for PRUNE_AFTER_MS, and leftovers of killed builds. */
async function prune(keep: string): Promise<void> {
  for (const name of await readdir(CACHE).catch(() => [] as string[])) {
    if (name === keep || name.endsWith('.lock')) continue;
    const path = join(CACHE, name);
    const mtime = await stat(path).then(
      (s) => s.mtimeMs,
      () => Date.now(),
    );
    if (Date.now() - mtime > PRUNE_AFTER_MS) await rm(path, { recursive: true, force: true });
  }
}
