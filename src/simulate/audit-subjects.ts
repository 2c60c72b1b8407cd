import type { AuditedDecision } from '../audit/audit-reader.js';

/** Default cap on distinct decisions replayed from the audit log. */
export const DEFAULT_MAX_AUDIT_SUBJECTS = 2000;

const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;

/**
 * One distinct decision from the audit log, and how it is replayed:
 * - a pull (`PullImage` of `name@digest` when the record names the digest judged, else the reference
 *   as the kubelet gave it: a tag is resolved again);
 * - a container image (`Revalidation` of the image id, as the daemon re-checks a running container; when
 *   containerd no longer holds that image, the pull of `fallbackPull` the kubelet would make instead).
 */
export interface AuditSubject {
  readonly namespace: string;
  readonly method: AuditedDecision['method'];
  readonly replay:
    | { readonly kind: 'pull'; readonly image: string }
    | { readonly kind: 'container'; readonly imageId: string; readonly fallbackPull: string | undefined };
  /** How the image is shown: `name@digest` when known. */
  readonly display: string;
  count: number;
  lastSeen: string;
  recordedOutcome: 'allow' | 'deny';
  recordedReason: string;
}

/**
 * Folds audit records into distinct subjects (namespace × method kind × image), keeping the most recent
 * recorded outcome. At most `max` subjects: further distinct ones are counted in `dropped`, not kept.
 */
export function createAuditSubjects(max: number = DEFAULT_MAX_AUDIT_SUBJECTS): {
  add(record: AuditedDecision): void;
  readonly subjects: readonly AuditSubject[];
  readonly dropped: number;
} {
  const byKey = new Map<string, AuditSubject>();
  let dropped = 0;
  const keep = (record: AuditedDecision, subject: Omit<AuditSubject, 'count' | 'lastSeen'>) => {
    const key = `${subject.namespace}\0${JSON.stringify(subject.replay)}`;
    const known = byKey.get(key);
    if (known !== undefined) {
      known.count += 1;
      if (record.time >= known.lastSeen) {
        known.lastSeen = record.time;
        known.recordedOutcome = subject.recordedOutcome;
        known.recordedReason = subject.recordedReason;
      }
      return;
    }
    if (byKey.size >= max) {
      dropped += 1;
      return;
    }
    byKey.set(key, { ...subject, count: 1, lastSeen: record.time });
  };
  return {
    add(record) {
      const namespace = record.pod.namespace;
      if (record.method === 'PullImage') {
        const digest = record.digests[0];
        const image =
          record.imageName !== undefined && digest !== undefined
            ? `${record.imageName}@${digest}`
            : record.image;
        keep(record, {
          namespace,
          method: record.method,
          replay: { kind: 'pull', image },
          display: image,
          recordedOutcome: record.outcome,
          recordedReason: record.reason,
        });
        return;
      }
      const images = record.images ?? [
        {
          image: record.image,
          imageName: record.imageName,
          digests: record.digests,
          outcome: record.outcome,
          reason: record.reason,
        },
      ];
      for (const image of images) {
        const digest = image.digests.find((d) => d !== image.image);
        const named =
          image.imageName !== undefined && digest !== undefined ? `${image.imageName}@${digest}` : undefined;
        keep(record, {
          namespace,
          method: record.method,
          replay: IMAGE_ID.test(image.image)
            ? { kind: 'container', imageId: image.image, fallbackPull: named }
            : { kind: 'pull', image: image.image },
          display: named ?? image.image,
          recordedOutcome: image.outcome,
          recordedReason: image.reason,
        });
      }
    },
    get subjects() {
      return [...byKey.values()];
    },
    get dropped() {
      return dropped;
    },
  };
}
