import type { Logger } from '../log/logger.js';
import type { PolicyStore } from '../policy-files/policy-store.js';
import { createSandboxImageFacts, type SandboxImageSource } from '../policy-files/sandbox-image-facts.js';
import type { CompiledPolicy } from '../policy/types.js';

/**
 * The policy in force: the store's, with the node's sandbox image facts applied (system policy,
 * `globalPolicyEvaluationMode: ENABLE` admits the sandbox image containerd is configured with). Asks
 * containerd now and every 10 s; changes and failures are logged.
 */
export function refreshSandboxImage(
  containerd: SandboxImageSource,
  store: PolicyStore,
  logger: Logger,
): { policy(): CompiledPolicy; stop(): void } {
  const sandbox = createSandboxImageFacts({
    source: containerd,
    policy: () => store.current(),
    intervalMs: 10_000,
    onChange: (facts) =>
      logger.info(
        { sandboxImage: facts?.reference, repoDigests: facts?.repoDigests },
        'system policy: sandbox image facts from containerd',
      ),
    onError: (err) => logger.warn({ err: err.message }, 'system policy: cannot read the sandbox image'),
  });
  void sandbox.refresh();
  return sandbox;
}
