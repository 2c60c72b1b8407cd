import { CriguardError, type Codes } from '../errors/criguard-error.js';

/** Stable codes of the problems a policy load can report (each PolicyIssue carries one). */
export type PolicyIssueCode = Codes<
  | 'CG_ERR_POLICY_TOO_LARGE'
  | 'CG_ERR_POLICY_SYNTAX'
  | 'CG_ERR_POLICY_UNKNOWN_FIELD'
  | 'CG_ERR_POLICY_REQUIRED'
  | 'CG_ERR_POLICY_TYPE'
  | 'CG_ERR_POLICY_ENUM'
  | 'CG_ERR_POLICY_EMPTY'
  | 'CG_ERR_POLICY_VALUE'
  | 'CG_ERR_POLICY_RULE_UNSUPPORTED'
  | 'CG_ERR_POLICY_KIND_UNSUPPORTED'
  | 'CG_ERR_POLICY_ATTESTATIONS_MISMATCH'
  | 'CG_ERR_POLICY_ATTESTOR_UNKNOWN'
  | 'CG_ERR_POLICY_ATTESTOR_AMBIGUOUS'
  | 'CG_ERR_POLICY_DUPLICATE'
  | 'CG_ERR_POLICY_PATTERN_INVALID'
  | 'CG_ERR_POLICY_KEY_INVALID'
  | 'CG_ERR_POLICY_KEY_ALGORITHM_MISMATCH'
  | 'CG_ERR_POLICY_FILE_UNREADABLE'
>;

/** One problem in a policy or attestor file: where (file and field path), what (code), and a human message. */
export interface PolicyIssue {
  /** The file (or other source label) the problem is in. */
  readonly source: string;
  /** Field path, e.g. `kubernetesNamespaceAdmissionRules.prod.evaluationMode`; `(root)` for the document. */
  readonly path: string;
  readonly code: PolicyIssueCode;
  readonly message: string;
}

/**
 * Thrown when a policy cannot be loaded: `code` is always `CG_ERR_POLICY_INVALID`, `issues` lists every
 * problem found (not just the first). Loading is fail closed: no partial policy is ever returned.
 */
export class PolicyLoadError extends CriguardError<'CG_ERR_POLICY_INVALID'> {
  readonly issues: readonly PolicyIssue[];
  constructor(issues: readonly PolicyIssue[]) {
    super(
      'CG_ERR_POLICY_INVALID',
      `CG_ERR_POLICY_INVALID: ${issues.length} problem(s)\n` +
        issues.map((i) => `  ${i.source}: ${i.path}: ${i.code}: ${i.message}`).join('\n'),
    );
    this.name = 'PolicyLoadError';
    this.issues = Object.freeze([...issues]);
  }
}

/** Thrown by evaluation when its input is not a valid image identity (`CG_ERR_IMAGE_IDENTITY_INVALID`): undecided. */
export class PolicyEvaluationError extends CriguardError<'CG_ERR_IMAGE_IDENTITY_INVALID'> {
  constructor(message: string) {
    super('CG_ERR_IMAGE_IDENTITY_INVALID', `CG_ERR_IMAGE_IDENTITY_INVALID: ${message}`);
    this.name = 'PolicyEvaluationError';
  }
}

/** Renders a path like zod's `['a', 'x.y', 0]` as `a["x.y"][0]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(part))
      out += out ? `.${part}` : part;
    else out += `[${JSON.stringify(String(part))}]`;
  }
  return out;
}
