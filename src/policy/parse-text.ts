import { isMap, isScalar, LineCounter, parseDocument, visit } from 'yaml';
import type { PolicyIssue } from './errors.js';
import { firstDuplicateJsonKey } from './json-duplicate-keys.js';

/** Largest policy or attestor file accepted. */
export const MAX_POLICY_TEXT_BYTES = 4 * 1024 * 1024;

/** A named piece of text: a file's contents and the label used in issues (usually its path). */
export interface SourceText {
  readonly source: string;
  readonly text: string;
}

/**
 * Parses YAML or JSON (JSON is YAML) into plain data. Duplicate keys, syntax errors, more than 100 aliases
 * and texts over 4 MiB are reported as issues (`CG_ERR_POLICY_SYNTAX`, `CG_ERR_POLICY_TOO_LARGE`);
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
  const json = parseJson(input.text);
  if (json !== undefined) {
    const duplicate = firstDuplicateJsonKey(input.text);
    if (duplicate === undefined) return { ok: true, value: json.value };
    return {
      ok: false,
      issues: [
        at('CG_ERR_POLICY_SYNTAX', 'Map keys must be unique', `line ${lineOf(input.text, duplicate)}`),
      ],
    };
  }
  try {
    // Keys are checked for uniqueness below, in linear time: the yaml library's own check compares each
    // key with every earlier one, which made a policy with 10,000 namespace rules take 15 s to load.
    const lineCounter = new LineCounter();
    const doc = parseDocument(input.text, {
      uniqueKeys: false,
      prettyErrors: true,
      strict: true,
      lineCounter,
    });
    if (doc.errors.length === 0) {
      const duplicate = firstDuplicateKey(doc);
      if (duplicate !== undefined) {
        return {
          ok: false,
          issues: [
            at(
              'CG_ERR_POLICY_SYNTAX',
              'Map keys must be unique',
              `line ${lineCounter.linePos(duplicate).line.toString()}`,
            ),
          ],
        };
      }
    }
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

/**
 * The source offset of the first key that repeats an earlier scalar key of the same map, if any (the
 * library's own rule: scalar keys are equal when their values are; other keys are never equal).
 */
function firstDuplicateKey(doc: ReturnType<typeof parseDocument>): number | undefined {
  let found: number | undefined;
  visit(doc, {
    Map(_, map) {
      if (!isMap(map)) return undefined;
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        if (seen.has(pair.key.value)) {
          found = pair.key.range?.[0] ?? 0;
          return visit.BREAK;
        }
        seen.add(pair.key.value);
      }
      return undefined;
    },
  });
  return found;
}

/**
 * JSON text (the usual policy format) parsed natively: the yaml library takes ~40× longer on it (4 s
 * for a policy with 10,000 namespace rules, on the event loop). Undefined when the text is not JSON, which
 * then goes to the YAML parser (also for its error messages).
 */
function parseJson(text: string): { value: unknown } | undefined {
  const first = /\S/.exec(text)?.[0];
  if (first !== '{' && first !== '[') return undefined;
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}

function lineOf(text: string, offset: number): string {
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line.toString();
}
