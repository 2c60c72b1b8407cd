import type { ErrorCode } from '../errors/catalog.js';
import type { Verdict } from '../policy/verdict.js';

/** Version of the audit record schema (docs/audit.md). Bump on any incompatible change. */
export const DECISION_RECORD_SCHEMA = 1;

/**
 * One admission decision, as audited: what was asked, what was decided and why. Never holds credentials.
 * `outcome` is what criguard did; `verdict` the policy's judgement when one was reached.
 */
export interface DecisionRecord {
  readonly schema: typeof DECISION_RECORD_SCHEMA;
  readonly time: string;
  readonly method: 'PullImage' | 'CreateContainer' | 'Revalidation';
  /** Image as the client gave it (PullImage: reference; CreateContainer: image id). */
  readonly image: string;
  /** Normalised repository name, when known. */
  readonly imageName: string | undefined;
  /** Digest(s) evaluated. */
  readonly digests: readonly string[];
  readonly pod: { readonly namespace: string; readonly name: string; readonly uid: string };
  readonly container: string | undefined;
  readonly outcome: 'allow' | 'deny';
  /** Stable reason code: a VerdictReason, or an admission code (UNDECIDED, PULL_DIGEST_MISMATCH, ...). */
  readonly reason: string;
  /** The message the kubelet saw (deny) or would have seen (dry run). */
  readonly message: string | undefined;
  readonly verdict: Verdict | undefined;
  readonly dryRun: boolean;
  /** The verdict a dry-run rule would have enforced. */
  readonly wouldBe: 'allow' | 'deny' | 'undecided' | undefined;
  /** Error code when the decision could not be made (the call was then handled by the rule's onUndecided). */
  readonly errorCode: ErrorCode | undefined;
  /** Set when a breakglass (file or pod label) turned a deny into an allow. */
  readonly breakglass:
    | (OverrideGrant & {
        readonly source: 'file' | 'pod-label';
        /** What criguard would have done without it. */
        readonly overridden: { readonly reason: string; readonly message: string | undefined };
      })
    | undefined;
  /** Set when the node's quarantine list refused the image (reason `QUARANTINED` or `QUARANTINE_INVALID`). */
  readonly quarantine?: QuarantineHit | undefined;
  /**
   * CreateContainer and Revalidation: every image of the container (its own image first, then its image
   * volumes), each judged on its own. The record's outcome is a deny when any of them is.
   */
  readonly images?: readonly ImageDecision[] | undefined;
  readonly cacheHit: boolean;
  readonly latencyMs: number;
  readonly policyRevision: string | undefined;
}

/** One image of a container, as judged. */
export interface ImageDecision {
  /** As the request gave it (an image id). */
  readonly image: string;
  readonly imageName: string | undefined;
  readonly digests: readonly string[];
  readonly outcome: 'allow' | 'deny';
  readonly reason: string;
  readonly errorCode: ErrorCode | undefined;
  /** Set when a breakglass admitted this image: where the grant came from and what it matched. */
  readonly breakglass:
    { readonly source: 'file' | 'pod-label'; readonly matched: readonly string[] } | undefined;
}

/**
 * Why the quarantine list refused an image: an entry in force that matched it (what matched, the
 * operator's reason and ticket, the file's hash), or a list that cannot be trusted (invalid since start).
 */
export type QuarantineHit =
  | {
      readonly kind: 'entry';
      /** The entry as written: `sha256:…` or a name pattern. */
      readonly entry: string;
      /** What of the image matched: `digest:sha256:…` or `image:<name>[@digest]`. */
      readonly matched: string;
      readonly reason: string;
      readonly ticket: string | undefined;
      readonly addedBy: string | undefined;
      readonly expiresAt: string | undefined;
      readonly fileSha256: string;
    }
  | {
      readonly kind: 'unknown';
      readonly problem: { readonly code: string; readonly message: string };
      readonly file: string;
    };

/** An operator override in force for a request (breakglass file or pod label); audited with what it overrode. */
export interface OverrideGrant {
  readonly reason: string;
  readonly ticket: string | undefined;
  readonly createdBy: string | undefined;
  /** ISO 8601; undefined for the pod label, which has no expiry. */
  readonly expiresAt: string | undefined;
  /** `sha256:` of the breakglass file; undefined for the pod label. */
  readonly fileSha256: string | undefined;
  readonly matched: readonly string[];
}
