import { VerifyError } from '../errors.js';

/** Fulcio's v1 GitHub Actions extensions (raw strings), the ones cosign's --certificate-github-workflow-* check. */
export const GITHUB_WORKFLOW_OIDS = Object.freeze({
  workflowTrigger: '1.3.6.1.4.1.57264.1.2',
  workflowSha: '1.3.6.1.4.1.57264.1.3',
  workflowName: '1.3.6.1.4.1.57264.1.4',
  workflowRepository: '1.3.6.1.4.1.57264.1.5',
  workflowRef: '1.3.6.1.4.1.57264.1.6',
});
export type GithubWorkflowField = keyof typeof GITHUB_WORKFLOW_OIDS;

/**
 * A keyless identity as written in the policy: an OIDC issuer and a certificate subject, each exact or a
 * regular expression that must match the whole value, plus optional exact GitHub workflow extension
 * values. Semantics of cosign's `--certificate-oidc-issuer[-regexp]`, `--certificate-identity[-regexp]`
 * and `--certificate-github-workflow-*`, except that regular expressions are anchored at both ends.
 */
export interface KeylessIdentitySpec {
  readonly issuer?: string | undefined;
  readonly issuerRegExp?: string | undefined;
  readonly subject?: string | undefined;
  readonly subjectRegExp?: string | undefined;
  readonly github?: Partial<Record<GithubWorkflowField, string>> | undefined;
}

/** What a verified Fulcio certificate says about its holder. */
export interface SignerIdentity {
  /** The subject alternative name (email, URI). */
  readonly subject: string | undefined;
  /** The OIDC issuer extension (v2 DER string, else v1 raw). */
  readonly issuer: string | undefined;
  /** Other extensions by dotted OID, as raw strings. */
  readonly extensions: ReadonlyMap<string, string>;
}

/** A compiled identity: a label for audit records and the matcher. */
export interface KeylessIdentity {
  readonly label: string;
  readonly spec: KeylessIdentitySpec;
  matches(signer: SignerIdentity): boolean;
}

/** Longest subject or issuer matched against a regular expression (real ones are well under 1 KiB). */
export const MAX_IDENTITY_CHARS = 4096;

type Matcher = (value: string | undefined) => boolean;

/**
 * Compiles one identity. Exactly one of issuer/issuerRegExp and one of subject/subjectRegExp; regular
 * expressions are JavaScript syntax (`u` flag) and match the whole value (`^(?:…)$`), so `.*@example.com`
 * does not accept `x@example.com.evil.io`. Throws VerifyError `CG_ERR_IDENTITY_INVALID`. Pure.
 */
export function compileIdentity(spec: KeylessIdentitySpec): KeylessIdentity {
  const issuer = matcher('issuer', spec.issuer, spec.issuerRegExp);
  const subject = matcher('subject', spec.subject, spec.subjectRegExp);
  const github = Object.entries(spec.github ?? {}).map(([field, want]) => {
    const oid = GITHUB_WORKFLOW_OIDS[field as GithubWorkflowField];
    if (oid === undefined || typeof want !== 'string' || want.length === 0) {
      throw new VerifyError('CG_ERR_IDENTITY_INVALID', `github.${field}: unknown field or empty value`);
    }
    return { oid, want };
  });
  const label = `${spec.issuer ?? `~${spec.issuerRegExp ?? ''}`} ${spec.subject ?? `~${spec.subjectRegExp ?? ''}`}`;
  return Object.freeze({
    label,
    spec,
    matches: (signer: SignerIdentity) =>
      issuer(signer.issuer) &&
      subject(signer.subject) &&
      github.every(({ oid, want }) => signer.extensions.get(oid) === want),
  });
}

function matcher(what: string, exact: string | undefined, pattern: string | undefined): Matcher {
  if ((exact === undefined) === (pattern === undefined)) {
    throw new VerifyError('CG_ERR_IDENTITY_INVALID', `give exactly one of ${what} and ${what}RegExp`);
  }
  if (exact !== undefined) {
    if (exact.length === 0) throw new VerifyError('CG_ERR_IDENTITY_INVALID', `${what} is empty`);
    return (value) => value === exact;
  }
  let re: RegExp;
  try {
    // Compiled alone first: a pattern that is only valid once wrapped (`a)|(b`) could unanchor the whole.
    new RegExp(pattern ?? '', 'u');
    re = new RegExp(`^(?:${pattern ?? ''})$`, 'u');
  } catch (err) {
    throw new VerifyError(
      'CG_ERR_IDENTITY_INVALID',
      `${what}RegExp: ${err instanceof Error ? err.message : 'invalid'}`,
    );
  }
  return (value) => value !== undefined && value.length <= MAX_IDENTITY_CHARS && re.test(value);
}
