import type { ErrorCode } from '../errors/catalog.js';
import { errorCodeOf } from '../errors/criguard-error.js';
import type { CompiledRule } from '../policy/types.js';
import type { AdmissionOutcome } from './admission.js';

/**
 * Error codes that mean "the registry could not be reached or did not answer in time": the only failures
 * `onUndecided: ALLOW` may turn into an allow. Everything else (malformed or oversized evidence, digest
 * mismatches, images with no registry digest, internal errors) is something a party who can push to the
 * repository could provoke, so it always denies.
 */
export const UNAVAILABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'CG_ERR_REGISTRY_UNAVAILABLE',
  'CG_ERR_TIMEOUT',
]);

/** The stable code of an error, or CG_ERR_INTERNAL for anything without a catalogued code. */
export function errorCode(err: unknown): ErrorCode {
  return errorCodeOf(err);
}

/**
 * SECURITY: the one place where "could not decide" (registry down, timeout, containerd look-up failed,
 * internal error, cancelled) becomes an outcome. Deny by default. A dry-run rule admits (it never blocks);
 * a REQUIRE_ATTESTATION rule with `onUndecided: ALLOW` admits only when the registry was unreachable or
 * too slow, and only for an image (`imageName`, normalised) on one of the registries the operator named
 * in `onUndecidedRegistries`: the pod spec names the registry, so whoever owns a registry it could name
 * could otherwise make it hang for criguard alone and turn the outage into an allow. The caller audits
 * either. Unreachable registries give `registry-unavailable` (the kubelet's RegistryUnavailable), a node
 * too busy to verify (`CG_ERR_VERIFY_BUSY`) `busy`, everything else `denied`.
 */
export function decideUndecided(
  rule: CompiledRule,
  err: unknown,
  what: string,
  imageName?: string,
): { outcome: AdmissionOutcome; reason: string; dryRun: boolean } {
  const code = errorCode(err);
  const dryRun = rule.enforcementMode === 'DRYRUN_AUDIT_LOG_ONLY';
  if (dryRun) return { outcome: { allowed: true }, reason: 'UNDECIDED_DRY_RUN', dryRun };
  if (
    rule.onUndecided === 'ALLOW' &&
    rule.evaluationMode === 'REQUIRE_ATTESTATION' &&
    UNAVAILABLE_CODES.has(code) &&
    imageName !== undefined &&
    rule.onUndecidedRegistries.includes(registryOf(imageName))
  ) {
    return { outcome: { allowed: true }, reason: 'UNDECIDED_ALLOWED_BY_RULE', dryRun };
  }
  const detail = code === 'CG_ERR_INTERNAL' ? 'internal error' : shortMessage(err);
  if (code === 'CG_ERR_VERIFY_BUSY') {
    return {
      outcome: { allowed: false, kind: 'busy', reason: `cannot verify ${what} now: ${detail}` },
      reason: 'UNDECIDED',
      dryRun,
    };
  }
  if (UNAVAILABLE_CODES.has(code)) {
    return {
      outcome: { allowed: false, kind: 'registry-unavailable', reason: `cannot verify ${what}: ${detail}` },
      reason: 'UNDECIDED',
      dryRun,
    };
  }
  return {
    outcome: { allowed: false, kind: 'denied', reason: `cannot verify ${what}: ${detail}` },
    reason: 'UNDECIDED',
    dryRun,
  };
}

function shortMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.length > 300 ? `${message.slice(0, 299)}…` : message;
}

/** The registry part of a normalised repository name (`registry.example:5000/team/app` → `registry.example:5000`). */
export function registryOf(name: string): string {
  const slash = name.indexOf('/');
  return slash < 0 ? name : name.slice(0, slash);
}
