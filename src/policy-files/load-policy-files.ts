import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { privateDirectoryProblem } from '../files/private-directory.js';
import { FileReadError, readRegularFileSync } from '../files/read-regular-file.js';
import { PolicyLoadError } from '../policy/errors.js';
import { loadPolicy } from '../policy/load-policy.js';
import { MAX_POLICY_TEXT_BYTES } from '../policy/parse-text.js';
import type { SourceText } from '../policy/parse-text.js';
import type { CompiledPolicy } from '../policy/types.js';
import { MAX_TRUSTED_ROOT_BYTES } from '../verify/keyless/trusted-root.js';

/** Where the policy lives on disk and the node facts it needs. */
export interface PolicyFileOptions {
  readonly policyPath: string;
  /** Directory of attestor files (`*.yaml`, `*.yml`, `*.json`), read in name order; optional. */
  readonly attestorsDir?: string | undefined;
  readonly cluster?: string | undefined;
  /**
   * The node's Sigstore `trusted_root.json` (serve setting `trustedRoot`): read, watched and hashed with
   * the policy, so a change to it is a policy reload (and a broken one keeps the last good policy).
   */
  readonly trustedRootPath?: string | undefined;
  /**
   * The daemon's rule: the files, their directories and every directory above must not be writable by
   * anyone but `uid` (and root): whoever can write the policy can switch enforcement off. Unset for
   * `criguard policy check`, which reads whatever file it is given.
   */
  readonly requireOwner?: number | undefined;
}

/** Most attestor files read from a directory. */
export const MAX_ATTESTOR_FILES = 256;

/** The text of every policy file as read at one moment, and a digest over all of it. */
export interface PolicySources {
  readonly policy: SourceText;
  readonly attestorFiles: readonly SourceText[];
  readonly trustedRoot: SourceText | undefined;
  /** sha256 over every file's name and bytes: equal digests mean identical inputs. */
  readonly digest: string;
}

/**
 * Reads the policy file and every attestor file, each through one non-blocking descriptor checked to be a
 * regular file of at most MAX_POLICY_TEXT_BYTES (a FIFO or device at any of these paths is refused, never
 * waited on). Throws PolicyLoadError (`CG_ERR_POLICY_FILE_UNREADABLE`) naming the file.
 */
export function readPolicySources(options: PolicyFileOptions): PolicySources {
  const hash = createHash('sha256');
  const owner = options.requireOwner;
  if (owner !== undefined) {
    const rootDir = options.trustedRootPath === undefined ? undefined : dirname(options.trustedRootPath);
    for (const dir of [dirname(options.policyPath), options.attestorsDir, rootDir]) {
      const problem = dir === undefined ? undefined : privateDirectoryProblem(dir, owner);
      if (problem !== undefined) throw unreadable(dir ?? '', `unsafe: ${problem}`);
    }
  }
  const read = (path: string, maxBytes = MAX_POLICY_TEXT_BYTES): SourceText => {
    const bytes = readSource(path, owner, maxBytes);
    hash.update(`${path}\0${bytes.length}\0`).update(bytes);
    return { source: path, text: bytes.toString('utf8') };
  };
  const policy = read(options.policyPath);
  const attestorFiles: SourceText[] = [];
  if (options.attestorsDir !== undefined) {
    let names: string[];
    try {
      names = readdirSync(options.attestorsDir)
        .filter((n) => /\.(ya?ml|json)$/.test(n) && !n.startsWith('.'))
        .sort();
    } catch {
      throw unreadable(options.attestorsDir, 'cannot list the attestor directory');
    }
    if (names.length > MAX_ATTESTOR_FILES)
      throw unreadable(options.attestorsDir, `more than ${MAX_ATTESTOR_FILES} files`);
    for (const name of names) attestorFiles.push(read(join(options.attestorsDir, name)));
  }
  const trustedRoot =
    options.trustedRootPath === undefined ? undefined : read(options.trustedRootPath, MAX_TRUSTED_ROOT_BYTES);
  return { policy, attestorFiles, trustedRoot, digest: `sha256:${hash.digest('hex')}` };
}

/** Compiles sources read by readPolicySources (pure loadPolicy). Throws PolicyLoadError. */
export function compilePolicySources(sources: PolicySources, options: PolicyFileOptions): CompiledPolicy {
  return loadPolicy(
    { policy: sources.policy, attestorFiles: [...sources.attestorFiles], trustedRoot: sources.trustedRoot },
    { cluster: options.cluster },
  );
}

/**
 * Reads the policy file and the attestor directory and hands the text to the pure loadPolicy.
 * Returns the frozen CompiledPolicy. Throws PolicyLoadError (`CG_ERR_POLICY_INVALID`) with every issue,
 * including unreadable or special files (`CG_ERR_POLICY_FILE_UNREADABLE`). Fail closed: no partial policy.
 */
export async function loadPolicyFiles(options: PolicyFileOptions): Promise<CompiledPolicy> {
  return Promise.resolve().then(() => compilePolicySources(readPolicySources(options), options));
}

function readSource(path: string, owner: number | undefined, maxBytes: number): Buffer {
  try {
    return readRegularFileSync(path, {
      maxBytes,
      ...(owner !== undefined && { private: { uid: owner, forbiddenModeBits: 0o022 } }),
    }).bytes;
  } catch (err) {
    if (err instanceof FileReadError && err.code === 'CG_ERR_FILE_TOO_LARGE')
      throw unreadable(path, `over ${maxBytes} bytes`);
    if (err instanceof FileReadError && err.code === 'CG_ERR_FILE_NOT_REGULAR')
      throw unreadable(path, err.message);
    if (err instanceof FileReadError && err.code === 'CG_ERR_FILE_UNSAFE')
      throw unreadable(path, `unsafe: ${err.message}`);
    throw unreadable(path, 'cannot read the file');
  }
}

function unreadable(source: string, message: string): PolicyLoadError {
  return new PolicyLoadError([{ source, path: '(root)', code: 'CG_ERR_POLICY_FILE_UNREADABLE', message }]);
}
