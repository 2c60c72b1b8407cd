import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PolicyLoadError } from '../policy/errors.js';
import { loadPolicy } from '../policy/load-policy.js';
import { MAX_POLICY_TEXT_BYTES } from '../policy/parse-text.js';
import type { SourceText } from '../policy/parse-text.js';
import type { CompiledPolicy } from '../policy/types.js';

/** Where the policy lives on disk and the node facts it needs. */
export interface PolicyFileOptions {
  readonly policyPath: string;
  /** Directory of attestor files (`*.yaml`, `*.yml`, `*.json`), read in name order; optional. */
  readonly attestorsDir?: string | undefined;
  readonly cluster?: string | undefined;
}

/** Most attestor files read from a directory. */
export const MAX_ATTESTOR_FILES = 256;

/**
 * Reads the policy file and the attestor directory and hands the text to the pure loadPolicy.
 * Returns the frozen CompiledPolicy. Throws PolicyLoadError (`CG_ERR_POLICY_INVALID`) with every issue,
 * including unreadable files (`CG_ERR_POLICY_FILE_UNREADABLE`). Fail closed: no partial policy.
 */
export async function loadPolicyFiles(options: PolicyFileOptions): Promise<CompiledPolicy> {
  const policy = await readSource(options.policyPath);
  const attestorFiles: SourceText[] = [];
  if (options.attestorsDir !== undefined) {
    let names: string[];
    try {
      names = (await readdir(options.attestorsDir))
        .filter((n) => /\.(ya?ml|json)$/.test(n) && !n.startsWith('.'))
        .sort();
    } catch {
      throw unreadable(options.attestorsDir, 'cannot list the attestor directory');
    }
    if (names.length > MAX_ATTESTOR_FILES)
      throw unreadable(options.attestorsDir, `more than ${MAX_ATTESTOR_FILES} files`);
    for (const name of names) attestorFiles.push(await readSource(join(options.attestorsDir, name)));
  }
  return loadPolicy({ policy, attestorFiles }, { cluster: options.cluster });
}

async function readSource(path: string): Promise<SourceText> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch {
    throw unreadable(path, 'cannot read the file');
  }
  if (buf.length > MAX_POLICY_TEXT_BYTES) throw unreadable(path, `over ${MAX_POLICY_TEXT_BYTES} bytes`);
  return { source: path, text: buf.toString('utf8') };
}

function unreadable(source: string, message: string): PolicyLoadError {
  return new PolicyLoadError([{ source, path: '(root)', code: 'CG_ERR_POLICY_FILE_UNREADABLE', message }]);
}
