import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Updater } from 'tuf-js';
import { DefaultFetcher } from 'tuf-js/dist/fetcher.js';
import { MAX_TRUSTED_ROOT_BYTES, parseTrustedRoot } from '../verify/keyless/trusted-root.js';
import { ensureCachedRootDescends, keepVerifiedRoots, MAX_ROOT_CHAIN, recordingRoots } from './root-chain.js';

/** The TUF target Sigstore publishes its trusted root as. */
export const TRUSTED_ROOT_TARGET = 'trusted_root.json';
/** Largest pinned TUF root.json read from disk (tuf-js' own limit for fetched roots). */
export const MAX_TUF_ROOT_BYTES = 512 * 1024;

/** Why a refresh failed: `input` (the operator's files or arguments) or `refresh` (mirror, TUF, target). */
export class RefreshError extends Error {
  constructor(
    readonly kind: 'input' | 'refresh',
    message: string,
  ) {
    super(message);
    this.name = 'RefreshError';
  }
}

export interface RefreshOptions {
  /** Base URL of the TUF repository (metadata at its root, targets under `targets/`), http or https. */
  readonly mirror: string;
  /**
   * The operator's pinned TUF root.json for that mirror: the root of trust. A root cached in `cacheDir` is
   * used instead only when it descends from this one (root-chain.ts); otherwise the cache starts again.
   */
  readonly rootPath: string;
  /** The node's trusted root file (serve setting `trustedRoot`). */
  readonly output: string;
  /** Keeps verified TUF metadata between runs (rotated roots, rollback protection); else a temp dir. */
  readonly cacheDir?: string;
  /** Per-request timeout in milliseconds (default 30 s). */
  readonly timeoutMs?: number;
}

export interface RefreshResult {
  /** True when the output file was (re)written; false when it already held the verified content. */
  readonly changed: boolean;
  /** `sha256:<hex>` of the trusted root, as the daemon reports it in the policy revision. */
  readonly digest: string;
  /** Why the cache was started again from the pinned root, if it was (for the operator). */
  readonly cacheReset?: string;
}

/**
 * Fetches `trusted_root.json` from a TUF mirror through tuf-js (root rotation, timestamp, snapshot, targets,
 * signatures, thresholds, expiry, rollback, hashes and lengths all checked by TUF), checks it is a trusted
 * root criguard's daemon would load (same parser), and writes it atomically (temp file in the same
 * directory, fsync, rename; mode 0644) only if it differs. On any failure the output file is unchanged.
 * Every read from the network is bounded by TUF lengths and a timeout. A `cacheDir` whose root does not
 * descend from the pinned root is started again from the pinned root (RefreshResult.cacheReset says why).
 * Never used at decision time.
 */
export async function refreshTrustedRoot(options: RefreshOptions): Promise<RefreshResult> {
  const mirror = mirrorUrl(options.mirror);
  const pinnedRoot = readPinnedRoot(options.rootPath);
  const metadataDir = options.cacheDir ?? mkdtempSync(join(tmpdir(), 'criguard-tuf-'));
  const targetDir = mkdtempSync(join(tmpdir(), 'criguard-tuf-target-'));
  try {
    mkdirSync(metadataDir, { recursive: true, mode: 0o700 });
    let cacheReset: string | undefined;
    try {
      cacheReset = ensureCachedRootDescends(metadataDir, pinnedRoot, MAX_TUF_ROOT_BYTES, (path, bytes) =>
        writeFileAtomically(path, bytes, 0o600),
      );
    } catch (err) {
      throw new RefreshError('input', `cannot use the TUF cache ${metadataDir}: ${describe(err)}`);
    }
    const timeout = options.timeoutMs ?? 30_000;
    const { fetcher, roots } = recordingRoots(
      new DefaultFetcher({ userAgent: 'criguard-trusted-root-refresh', timeout, retry: 1 }),
    );
    let bytes: Buffer;
    try {
      const updater = new Updater({
        metadataDir,
        metadataBaseUrl: mirror,
        targetBaseUrl: `${mirror}/targets`,
        targetDir,
        fetcher,
        config: {
          maxRootRotations: MAX_ROOT_CHAIN,
          maxDelegations: 8,
          rootMaxLength: MAX_TUF_ROOT_BYTES,
          timestampMaxLength: 16 * 1024,
          snapshotMaxLength: 1024 * 1024,
          targetsMaxLength: 4 * 1024 * 1024,
        },
      });
      await updater.refresh();
      const info = await updater.getTargetInfo(TRUSTED_ROOT_TARGET);
      if (info === undefined) throw new Error(`the repository has no target ${TRUSTED_ROOT_TARGET}`);
      if (info.length > MAX_TRUSTED_ROOT_BYTES) {
        throw new Error(
          `target ${TRUSTED_ROOT_TARGET} is ${info.length} bytes, over ${MAX_TRUSTED_ROOT_BYTES}`,
        );
      }
      bytes = readFileSync(await updater.downloadTarget(info, join(targetDir, TRUSTED_ROOT_TARGET)));
    } catch (err) {
      throw new RefreshError(
        'refresh',
        `TUF refresh from ${mirror} failed: ${describe(err)}${resetNote(cacheReset)}`,
      );
    } finally {
      try {
        keepVerifiedRoots(metadataDir, roots, MAX_TUF_ROOT_BYTES);
      } catch {
        // Not kept: the next run cannot show the cached root descends from --root and starts again from it.
      }
    }
    const digest = checkTrustedRoot(bytes, `${mirror} ${TRUSTED_ROOT_TARGET}`);
    const reset = cacheReset === undefined ? {} : { cacheReset };
    if (sameContent(options.output, bytes)) return { changed: false, digest, ...reset };
    try {
      writeFileAtomically(options.output, bytes, 0o644);
    } catch (err) {
      throw new RefreshError('refresh', `cannot write ${options.output}: ${describe(err)}`);
    }
    return { changed: true, digest, ...reset };
  } finally {
    rmSync(targetDir, { recursive: true, force: true });
    if (options.cacheDir === undefined) rmSync(metadataDir, { recursive: true, force: true });
  }
}

function mirrorUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RefreshError('input', `--mirror ${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new RefreshError('input', `--mirror must be an http(s) URL, not ${url.protocol}`);
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new RefreshError('input', '--mirror must not carry credentials, a query or a fragment');
  }
  return url.href.replace(/\/+$/, '');
}

/** Reads the pinned TUF root, bounded, and checks it is a JSON TUF root document (TUF verifies the rest). */
function readPinnedRoot(path: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new RefreshError('input', `cannot read the TUF root ${path}: ${describe(err)}`);
  }
  if (bytes.length > MAX_TUF_ROOT_BYTES) {
    throw new RefreshError('input', `${path}: over ${MAX_TUF_ROOT_BYTES} bytes`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new RefreshError('input', `${path}: not JSON (${describe(err)})`);
  }
  const signed = (doc as { signed?: { _type?: unknown } } | null)?.signed;
  if (typeof signed !== 'object' || signed === null || signed._type !== 'root') {
    throw new RefreshError('input', `${path}: not a TUF root (signed._type is not "root")`);
  }
  return bytes;
}

/** The daemon's own parser: a target it would refuse is never written. Returns the digest. */
function checkTrustedRoot(bytes: Buffer, source: string): string {
  try {
    return parseTrustedRoot(JSON.parse(bytes.toString('utf8')), source).digest;
  } catch (err) {
    throw new RefreshError('refresh', `refused: ${describe(err)}`);
  }
}

function sameContent(path: string, bytes: Buffer): boolean {
  try {
    return readFileSync(path).equals(bytes);
  } catch {
    return false;
  }
}

/** Temporary file in the target's directory, fsync, rename, fsync the directory. Throws the fs error. */
function writeFileAtomically(path: string, bytes: Buffer, mode: number): void {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', mode);
  try {
    fchmodSync(fd, mode); // not left to the umask
    writeSync(fd, bytes);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

function resetNote(cacheReset: string | undefined): string {
  return cacheReset === undefined ? '' : ` (the cache had been started again from --root: ${cacheReset})`;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
