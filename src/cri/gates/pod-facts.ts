import type { PodFacts } from '../../admission/admission.js';
import type { PodSandboxConfig } from '../cri-types.js';

/** The pod facts of a sandbox config (empty strings and maps where the client sent none). */
export function toPodFacts(config: PodSandboxConfig | null): PodFacts {
  return {
    namespace: config?.metadata?.namespace ?? '',
    name: config?.metadata?.name ?? '',
    uid: config?.metadata?.uid ?? '',
    labels: config?.labels ?? {},
    annotations: config?.annotations ?? {},
  };
}
