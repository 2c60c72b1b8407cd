import { withSandboxImage } from '../policy/system-policy.js';
import type { CompiledPolicy, SandboxImageFacts } from '../policy/types.js';

/** Where the facts come from: containerd's CRI Status and ImageStatus (`createContainerdClient`). */
export interface SandboxImageSource {
  sandboxImage(signal: AbortSignal): Promise<SandboxImageFacts | undefined>;
}

export interface SandboxImageFactsOptions {
  readonly source: SandboxImageSource;
  /** The policy from the files (the policy store's `current`). */
  readonly policy: () => CompiledPolicy;
  /** How often containerd is asked again (its configuration and the digest it holds can change). */
  readonly intervalMs: number;
  /** Called when the facts in use change (first found, moved, gone), and when asking fails. */
  readonly onChange: (facts: SandboxImageFacts | undefined) => void;
  readonly onError: (err: Error) => void;
}

/**
 * Keeps the node's sandbox image facts for the system policy (ADR 0017) and serves the policy in force
 * with them applied. Only a policy with `globalPolicyEvaluationMode: ENABLE` is affected; containerd is
 * asked at start and every `intervalMs` only while such a policy is loaded. A failed look-up keeps the
 * last facts (they only admit the digests containerd itself runs as sandboxes).
 */
export function createSandboxImageFacts(options: SandboxImageFactsOptions): {
  /** The policy in force, sandbox facts applied (same object while nothing changes). */
  policy(): CompiledPolicy;
  /** Asks containerd now (resolves when done; never rejects). */
  refresh(): Promise<void>;
  stop(): void;
} {
  let facts: SandboxImageFacts | undefined;
  let last:
    { base: CompiledPolicy; facts: SandboxImageFacts | undefined; applied: CompiledPolicy } | undefined;
  const controller = new AbortController();
  let running: Promise<void> | undefined;

  async function ask(): Promise<void> {
    if (options.policy().system === undefined) return;
    try {
      const found = await options.source.sandboxImage(controller.signal);
      const key = (f: SandboxImageFacts | undefined) =>
        f === undefined ? '' : `${f.reference}|${[...f.repoDigests].sort().join(',')}`;
      if (key(found) !== key(facts)) {
        facts = found;
        options.onChange(found);
      }
    } catch (err) {
      options.onError(err as Error);
    }
  }

  function refresh(): Promise<void> {
    running ??= ask().finally(() => {
      running = undefined;
    });
    return running;
  }

  const timer = setInterval(() => void refresh(), options.intervalMs);
  timer.unref();
  return {
    policy() {
      const base = options.policy();
      if (last?.base === base && last.facts === facts) return last.applied;
      last = { base, facts, applied: withSandboxImage(base, facts) };
      return last.applied;
    },
    refresh,
    stop() {
      clearInterval(timer);
      controller.abort();
    },
  };
}
