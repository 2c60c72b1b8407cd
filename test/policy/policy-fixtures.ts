import { loadPolicy } from '../../src/policy/load-policy.js';
import type { LoadPolicyOptions } from '../../src/policy/load-policy.js';
import type { CompiledPolicy } from '../../src/policy/types.js';

/** Loads a policy given as a plain object (serialised as JSON). */
export function policyFrom(
  doc: object,
  options?: LoadPolicyOptions,
  attestorFiles: object[] = [],
): CompiledPolicy {
  return loadPolicy(
    {
      policy: { source: 'policy.json', text: JSON.stringify(doc) },
      attestorFiles: attestorFiles.map((a, i) => ({ source: `attestor-${i}.json`, text: JSON.stringify(a) })),
    },
    options,
  );
}
