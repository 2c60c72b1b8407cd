import type { Verdict } from '../policy/verdict.js';
import type { ImageIdentity } from '../reference/image-reference.js';

/**
 * The short, actionable text the kubelet shows for a deny (after the SignatureValidationFailed: prefix):
 * which image and digest, which rule, which attestors are missing and why. No secrets; details are in
 * the audit log.
 */
export function denyMessage(verdict: Verdict, identity: ImageIdentity | undefined): string {
  const image =
    identity && identity.digest ? `${identity.name}@${identity.digest}` : (identity?.name ?? 'image');
  const rule =
    verdict.rule.key === undefined
      ? `${verdict.rule.kind} rule`
      : `${verdict.rule.kind} rule "${verdict.rule.key}"`;
  switch (verdict.reason) {
    case 'ALWAYS_DENY':
      return `${image} is denied: the ${rule} allows no images (policy ${short(verdict.policyRevision)})`;
    case 'ATTESTOR_MISSING': {
      const missing = verdict.missing.map((m) => `${m.attestor} (${m.reason})`).join(', ');
      return `${image} lacks a valid attestation by ${missing}, required by the ${rule} (policy ${short(verdict.policyRevision)})`;
    }
    // Reasons of allow verdicts: never a deny, but named so that a new deny reason cannot go unworded.
    case 'ALLOWLISTED':
    case 'ALWAYS_ALLOW':
    case 'ATTESTATIONS_SATISFIED':
    case 'NODE_CRITICAL':
    case 'SYSTEM_POLICY':
      return `${image} is not admitted by the ${rule} (${verdict.reason})`;
  }
}

function short(revision: string): string {
  return revision.replace(/^sha256:/, '').slice(0, 12);
}
