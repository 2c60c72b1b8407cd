import { resolveAttestorName } from './attestor-names.js';
import { formatPath } from './errors.js';
import type { AttestorDocument, PolicyDocument, RuleDocument } from './schema.js';

/**
 * A field the policy accepts but that has no effect on this node: not an error (a GKE export must
 * load unchanged), but the operator should know that it does not do what it says. Reported by
 * `criguard policy check` and at `serve` start and reload, each with its file and field path.
 */
export interface PolicyWarning {
  readonly source: string;
  /** Field path, as in PolicyIssue (`clusterAdmissionRules["us-east1-a.prod"]`). */
  readonly path: string;
  readonly message: string;
}

/** An attestor document with where it was written. */
export interface AttestorAt {
  readonly doc: AttestorDocument;
  readonly source: string;
  readonly path: readonly PropertyKey[];
}

/**
 * Every accepted field of a valid policy that has no effect here (docs/policy.md, "Fields without
 * effect"). Metadata (`name`, `description`, `etag`, `updateTime`, `comment`) is never reported: it
 * has no effect in Binary Authorization either. Pure; the order is the document's.
 */
export function policyWarnings(
  policy: PolicyDocument,
  attestors: readonly AttestorAt[],
  options: { readonly source: string; readonly cluster: string | undefined },
): PolicyWarning[] {
  const out: PolicyWarning[] = [];
  const warn = (path: readonly PropertyKey[], message: string, source = options.source): void => {
    out.push(Object.freeze({ source, path: formatPath(path), message }));
  };
  const hasImageRules = (policy.criguard?.imageRules?.length ?? 0) > 0;

  const clusterKeys = Object.keys(policy.clusterAdmissionRules ?? {});
  if (clusterKeys.length > 0 && options.cluster === undefined) {
    warn(
      ['clusterAdmissionRules'],
      'no effect: this node has no cluster key configured (serve --cluster / `cluster:`), so no cluster rule ever applies',
    );
  } else if (clusterKeys.length > 0 && !clusterKeys.includes(options.cluster ?? '')) {
    warn(
      ['clusterAdmissionRules'],
      `no effect on this node: no key equals its cluster "${options.cluster ?? ''}"`,
    );
  }

  const rules: [PropertyKey[], RuleDocument][] = [[['defaultAdmissionRule'], policy.defaultAdmissionRule]];
  for (const [key, rule] of Object.entries(policy.kubernetesNamespaceAdmissionRules ?? {}))
    rules.push([['kubernetesNamespaceAdmissionRules', key], rule]);
  for (const [key, rule] of Object.entries(policy.clusterAdmissionRules ?? {}))
    rules.push([['clusterAdmissionRules', key], rule]);
  for (const [path, rule] of rules) {
    // Image rules can turn ALWAYS_ALLOW into a requirement; ALWAYS_DENY stays a deny whatever else.
    const fetches =
      rule.evaluationMode === 'REQUIRE_ATTESTATION' ||
      (rule.evaluationMode === 'ALWAYS_ALLOW' && hasImageRules);
    if (!fetches) {
      for (const field of ['onUndecided', 'bindDockerReference'] as const) {
        if (rule.criguard?.[field] !== undefined) {
          warn(
            [...path, 'criguard', field],
            `no effect: an ${rule.evaluationMode} rule decides without attestations`,
          );
        }
      }
    }
    if (
      rule.evaluationMode === 'ALWAYS_ALLOW' &&
      rule.enforcementMode === 'DRYRUN_AUDIT_LOG_ONLY' &&
      !hasImageRules
    ) {
      warn([...path, 'enforcementMode'], 'no effect: an ALWAYS_ALLOW rule denies nothing to dry-run');
    }
  }

  const names = attestors.map((a) => a.doc.name);
  const required = new Set<string>();
  const refs = [
    ...rules.flatMap(([, r]) => r.requireAttestationsBy ?? []),
    ...(policy.criguard?.imageRules ?? []).flatMap((r) => r.requireAttestationsBy),
  ];
  for (const ref of refs) {
    const found = resolveAttestorName(ref, names);
    if (found.kind === 'found') required.add(found.name);
  }
  let keyless = false;
  for (const { doc, source, path } of attestors) {
    if (doc.criguard?.keyless !== undefined && doc.criguard.keyless.trustedRoot === undefined) keyless = true;
    if (!required.has(doc.name)) {
      warn([...path, 'name'], `no effect: attestor ${doc.name} is required by no rule`, source);
    }
    const note = doc.userOwnedGrafeasNote;
    if (note?.noteReference !== undefined) {
      warn(
        [...path, 'userOwnedGrafeasNote', 'noteReference'],
        'no effect: the node does not read Container Analysis; a valid signature counts whichever note it was filed under',
        source,
      );
    }
    if (note?.delegationServiceAccountEmail !== undefined) {
      warn(
        [...path, 'userOwnedGrafeasNote', 'delegationServiceAccountEmail'],
        'no effect: the node does not call Container Analysis',
        source,
      );
    }
  }
  if (
    policy.criguard?.trustedRoot !== undefined &&
    !keyless &&
    policy.globalPolicyEvaluationMode !== 'ENABLE'
  ) {
    warn(
      ['criguard', 'trustedRoot'],
      'no effect: no keyless attestor relies on it and the system policy is not enabled',
    );
  }
  return out;
}
