import { parseDocument } from 'yaml';
import type { PolicyIssue } from './errors.js';

/** Largest policy or attestor file accepted. */
export const MAX_POLICY_TEXT_BYTES = 1024 * 1024;

/** A named piece of text: a file's contents and the label used in issues (usually its path). */
export interface SourceText {
  readonly source: string;
  readonly text: string;
}

/**
 * Parses YAML or JSON (JSON is YAML) into plain data. Duplicate keys, syntax errors, more than 100 aliases
 * and texts over 1 MiB are reported as issues (`CG_ERR_POLICY_SYNTAX`, `CG_ERR_POLICY_TOO_LARGE`);
 * returns `{ ok: false }` then. Never throws.
 */
export function parseYamlOrJson(
  input: SourceText,
): { ok: true; value: unknown } | { ok: false; issues: PolicyIssue[] } {
  const at = (code: PolicyIssue['code'], message: string, path = '(root)'): PolicyIssue => ({
    source: input.source,
    path,
    code,
    message,
  });
  if (input.text.length > MAX_POLICY_TEXT_BYTES) {
    return { ok: false, issues: [at('CG_ERR_POLICY_TOO_LARGE', `over ${MAX_POLICY_TEXT_BYTES} bytes`)] };
  }
  try {
    const doc = parseDocument(input.text, { uniqueKeys: true, prettyErrors: true, strict: true });
    if (doc.errors.length > 0) {
      return {
        ok: false,
        issues: doc.errors.map((e) =>
          at(
            'CG_ERR_POLICY_SYNTAX',
            e.message.split('\n')[0] ?? e.code,
            `line ${(e.linePos?.[0]?.line ?? 0).toString()}`,
          ),
        ),
      };
    }
    return { ok: true, value: doc.toJS({ maxAliasCount: 100 }) };
  } catch (err) {
    return {
      ok: false,
      issues: [at('CG_ERR_POLICY_SYNTAX', err instanceof Error ? err.message : String(err))],
    };
  }
}
