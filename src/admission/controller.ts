import type { Admission, CreateFacts } from './admission.js';
import type { RevalidationOutcome, SweepJudgements } from './revalidation.js';
import { checkContainer, decideContainer } from './create.js';
import { decisionContext, type AdmissionDependencies } from './dependencies.js';
import { createImageJudge } from './image-verdict.js';
import { admitPull } from './pull.js';

export type { AdmissionDependencies } from './dependencies.js';
export { BREAKGLASS_LABEL } from './breakglass-override.js';
export { cacheKey } from './image-verdict.js';

/**
 * The single decision point. Each decision reads as its algorithm, one phase per module:
 *
 * - PullImage (`pull.ts`): parse → policy plan → resolve the tag → judge the digest → breakglass →
 *   audit; the allow carries its confirm step (`pull-confirm.ts`), which checks containerd's answer
 *   (digest, platform) against what was judged.
 * - CreateContainer and re-validation (`create.ts`): every image of the container (its own and its
 *   image volumes, by image id) → each judged with its own breakglass → one record.
 * - One image of a container (`container-image.ts`): containerd's facts → each registry name
 *   (cached and healthy first) → the first allow.
 * - Judging one digest (`image-verdict.ts`): cache → a verification slot (`verification-slots.ts`) →
 *   evidence loop → verify → multi-arch fallback.
 * - The quarantine (`quarantine-check.ts`): asked first at every decision (pull: by name and given digest,
 *   again once the tag is resolved, and after containerd pulled; create: every name and digest of the
 *   image); its refusal is final (no dry run, no breakglass, never cached).
 * - Could-not-decide (`evaluation.ts` → `undecided.ts`), the record (`audit-record.ts`), the override
 *   (`breakglass-override.ts`), the time budgets (`deadline.ts`), registries that failed lately
 *   (`registry-health.ts`).
 *
 * Implements the transport's Admission port. Never throws: every failure is a value, and every decision
 * writes exactly one record to the sink.
 */
export function createAdmission(deps: AdmissionDependencies): Admission & {
  /**
   * Re-evaluates a running container's image under the current policy and the quarantine list; audited as
   * method Revalidation. A quarantined image says so (`quarantine`). Within one `sweep`, containers
   * sharing an image reuse its judgement.
   */
  revalidate(facts: CreateFacts, signal: AbortSignal, sweep?: SweepJudgements): Promise<RevalidationOutcome>;
} {
  const ctx = decisionContext(deps, createImageJudge(deps));
  return {
    admitPull: (facts, signal) => admitPull(ctx, facts, signal),
    admitCreate: (facts, signal) => checkContainer(ctx, 'CreateContainer', facts, signal),
    revalidate: async (facts, signal, sweep) => {
      const evaluation = await decideContainer(ctx, 'Revalidation', facts, signal, sweep);
      return evaluation.quarantine
        ? { ...evaluation.outcome, quarantine: evaluation.quarantine }
        : evaluation.outcome;
    },
  };
}
