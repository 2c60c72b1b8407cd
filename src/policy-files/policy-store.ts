import type { CompiledPolicy } from '../policy/types.js';
import {
  compilePolicySources,
  readPolicySources,
  type PolicyFileOptions,
  type PolicySources,
} from './load-policy-files.js';

/** What a reload did. `error` is set when the files were invalid and the last good policy stayed. */
export interface ReloadResult {
  readonly changed: boolean;
  readonly revision: string;
  readonly error: Error | undefined;
}

export interface PolicyStore {
  /** The policy in force: always a complete, valid policy (swapped atomically). */
  current(): CompiledPolicy;
  /** Re-reads the files now (SIGHUP). Invalid files keep the last good policy (fail closed, loud). */
  reload(): Promise<ReloadResult>;
  /** Stops watching. */
  close(): void;
}

export interface PolicyStoreOptions extends PolicyFileOptions {
  /** How often the files' content is compared with what is in force. */
  readonly pollMs: number;
  readonly onReload: (result: ReloadResult) => void;
  /** Runs `tick` every `ms` and returns a stop function; default setInterval (unref'd). For tests. */
  readonly ticker?: (tick: () => void, ms: number) => () => void;
}

function intervalTicker(tick: () => void, ms: number): () => void {
  const timer = setInterval(tick, ms);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Loads the policy files (throws PolicyLoadError when they are invalid at start: the daemon must not
 * start without a policy), then every `pollMs` reads them again (bounded, non-blocking: see
 * readPolicySources) and compares their content digest with the last one acted on. Any change to any
 * file (replaced, renamed over, edited in place, even at the same size and mtime, a ConfigMap symlink
 * swap) is applied once two consecutive reads agree on it, so within two periods: a file caught while
 * it is being written in place (a valid prefix can be a weaker policy, e.g. one required attestor of two)
 * is not applied unless it stays that way for a whole period. An unchanged set costs a few small reads
 * and one hash. The bytes compiled are the bytes hashed. `reload()` (SIGHUP) applies the files now.
 */
export async function createPolicyStore(options: PolicyStoreOptions): Promise<PolicyStore> {
  const first = readPolicySources(options);
  let policy = compilePolicySources(first, options);
  // The digest (or error) last acted on: a broken file is reported once, not every period.
  let seen = first.digest;

  function apply(sources: PolicySources | Error): ReloadResult {
    if (sources instanceof Error) {
      seen = `error:${sources.message}`;
      return { changed: false, revision: policy.revision, error: sources };
    }
    seen = sources.digest;
    try {
      const next = compilePolicySources(sources, options);
      const changed = next.revision !== policy.revision;
      policy = next;
      return { changed, revision: next.revision, error: undefined };
    } catch (err) {
      return { changed: false, revision: policy.revision, error: err as Error };
    }
  }

  function read(): PolicySources | Error {
    try {
      return readPolicySources(options);
    } catch (err) {
      return err as Error;
    }
  }

  function report(result: ReloadResult): ReloadResult {
    options.onReload(result);
    return result;
  }

  // A change seen once, applied when the next read finds the same content (the writer has settled).
  let pending: string | undefined;
  const stop = (options.ticker ?? intervalTicker)(() => {
    const sources = read();
    const key = sources instanceof Error ? `error:${sources.message}` : sources.digest;
    if (key === seen) {
      pending = undefined;
      return;
    }
    if (key !== pending) {
      pending = key;
      return;
    }
    pending = undefined;
    report(apply(sources));
  }, options.pollMs);

  return {
    current: () => policy,
    reload: () => Promise.resolve().then(() => report(apply(read()))),
    close: stop,
  };
}
