import { statSync } from 'node:fs';
import type { CompiledPolicy } from '../policy/types.js';
import { loadPolicyFiles, type PolicyFileOptions } from './load-policy-files.js';

/** What a reload did. `error` is set when the files were invalid and the last good policy stayed. */
export interface ReloadResult {
  readonly changed: boolean;
  readonly revision: string;
  readonly error: Error | undefined;
}

export interface PolicyStore {
  /** The policy in force: always a complete, valid policy (swapped atomically). */
  current(): CompiledPolicy;
  /** Re-reads the files now. Invalid files keep the last good policy (fail closed, loud). */
  reload(): Promise<ReloadResult>;
  /** Stops watching. */
  close(): void;
}

export interface PolicyStoreOptions extends PolicyFileOptions {
  /** How often the files' identity (inode, size, mtime) is checked; ConfigMap updates swap symlinks. */
  readonly pollMs: number;
  readonly onReload: (result: ReloadResult) => void;
}

/**
 * Loads the policy files (throws PolicyLoadError when they are invalid at start: the daemon must not
 * start without a policy), then re-reads them whenever their identity changes (polled) or reload() is
 * called (SIGHUP).
 */
export async function createPolicyStore(options: PolicyStoreOptions): Promise<PolicyStore> {
  let policy = await loadPolicyFiles(options);
  let fingerprint = fingerprintOf(options);
  let reloading: Promise<ReloadResult> | undefined;

  async function reload(): Promise<ReloadResult> {
    reloading ??= (async () => {
      fingerprint = fingerprintOf(options);
      try {
        const next = await loadPolicyFiles(options);
        const changed = next.revision !== policy.revision;
        policy = next;
        return { changed, revision: next.revision, error: undefined };
      } catch (err) {
        return { changed: false, revision: policy.revision, error: err as Error };
      }
    })().finally(() => {
      reloading = undefined;
    });
    const result = await reloading;
    options.onReload(result);
    return result;
  }

  const timer = setInterval(() => {
    if (fingerprintOf(options) !== fingerprint) void reload();
  }, options.pollMs);
  timer.unref();

  return {
    current: () => policy,
    reload,
    close: () => clearInterval(timer),
  };
}

function fingerprintOf(options: PolicyFileOptions): string {
  const parts = [options.policyPath, options.attestorsDir].map((path) => {
    if (path === undefined) return '-';
    try {
      const s = statSync(path);
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return 'missing';
    }
  });
  if (options.attestorsDir !== undefined) {
    // Attestor files may change without the directory's mtime changing (in-place edits).
    try {
      parts.push(String(statSync(options.attestorsDir).mtimeMs));
    } catch {
      parts.push('missing');
    }
  }
  return parts.join('|');
}
