import { DECISION_RECORD_SCHEMA, type DecisionRecord, type ImageDecision } from './decision-record.js';
import { denyMessage } from './deny-message.js';
import type { PodFacts } from './admission.js';
import type { Evaluation } from './evaluation.js';

/** What one audited decision was about. */
export interface DecisionSubject {
  readonly method: DecisionRecord['method'];
  /** The image as the client gave it. */
  readonly image: string;
  readonly pod: PodFacts;
  readonly container: string | undefined;
  /** Digest(s) evaluated. */
  readonly digests: readonly string[];
  /** CreateContainer and Revalidation: each image of the container. */
  readonly images?: readonly ImageDecision[] | undefined;
}

/**
 * The audit record of one decision: what was asked, the outcome, why, and the message the kubelet saw
 * (or, for an allow that a dry run or a breakglass granted, the message it would have seen).
 */
export function decisionRecord(
  subject: DecisionSubject,
  evaluation: Evaluation,
  time: number,
  latencyMs: number,
): DecisionRecord {
  const verdict = evaluation.verdict;
  return {
    schema: DECISION_RECORD_SCHEMA,
    time: new Date(time).toISOString(),
    method: subject.method,
    image: subject.image,
    imageName: evaluation.identity?.name,
    digests: subject.digests,
    pod: { namespace: subject.pod.namespace, name: subject.pod.name, uid: subject.pod.uid },
    container: subject.container,
    outcome: evaluation.outcome.allowed ? 'allow' : 'deny',
    reason: evaluation.reason,
    message: evaluation.breakglass
      ? evaluation.breakglass.overridden.message
      : evaluation.outcome.allowed
        ? verdict?.wouldBe === 'deny'
          ? denyMessage(verdict, evaluation.identity)
          : undefined
        : evaluation.outcome.reason,
    verdict,
    dryRun: verdict?.dryRun ?? evaluation.wouldBe === 'undecided',
    wouldBe: evaluation.wouldBe ?? verdict?.wouldBe,
    errorCode: evaluation.errorCode,
    breakglass: evaluation.breakglass,
    ...(evaluation.quarantine === undefined ? {} : { quarantine: evaluation.quarantine }),
    ...(subject.images === undefined ? {} : { images: subject.images }),
    cacheHit: evaluation.cacheHit,
    latencyMs,
    policyRevision: evaluation.policyRevision,
  };
}
