import test from 'ava';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { firstDuplicateJsonKey } from '../../src/policy/json-duplicate-keys.js';
import { parseYamlOrJson } from '../../src/policy/parse-text.js';

const parse = (text: string) => parseYamlOrJson({ source: 'policy.json', text });

test('a JSON policy with a repeated key is refused with the line of the repeat, at any depth', (t) => {
  const text = [
    '{',
    '  "defaultAdmissionRule": { "evaluationMode": "ALWAYS_DENY",',
    '    "enforcementMode": "ENFORCED_BLOCK_AND_AUDIT_LOG",',
    '    "evaluationMode": "ALWAYS_ALLOW" }',
    '}',
  ].join('\n');
  const result = parse(text);
  t.false(result.ok);
  if (!result.ok) {
    t.is(result.issues[0]?.code, 'CG_ERR_POLICY_SYNTAX');
    t.is(result.issues[0]?.message, 'Map keys must be unique');
    t.is(result.issues[0]?.path, 'line 4');
  }
});

test('an escaped spelling of a key is the same key', (t) => {
  t.false(parse('{"kubernetesNamespaceAdmissionRules": {"a": {}, "\\u0061": {}}}').ok);
});

test('a YAML policy with a repeated key is refused too', (t) => {
  const result = parseYamlOrJson({
    source: 'policy.yaml',
    text: 'kubernetesNamespaceAdmissionRules:\n  prod: {}\n  dev: {}\n  prod: {}\n',
  });
  t.false(result.ok);
  if (!result.ok) {
    t.is(result.issues[0]?.code, 'CG_ERR_POLICY_SYNTAX');
    t.is(result.issues[0]?.path, 'line 4');
  }
});

test('the same key in different objects, and keys inside string values, are not repeats', (t) => {
  const text = '{"a": {"x": 1}, "b": {"x": 2}, "c": "\\"a\\": {", "d": ["a", {"a": "}"}], "e": {"a": 1}}';
  const result = parse(text);
  t.true(result.ok);
  if (result.ok) t.deepEqual(result.value, JSON.parse(text));
});

test('a repeat among 10,000 namespace rules is found (the last key repeats the first)', (t) => {
  const rules = Array.from({ length: 10_000 }, (_, i) => `"ns-${i}": {}`);
  rules.push('"ns-0": {}');
  const text = `{"kubernetesNamespaceAdmissionRules": {\n${rules.join(',\n')}\n}}`;
  const result = parse(text);
  t.false(result.ok);
  if (!result.ok) t.is(result.issues[0]?.path, 'line 10002');
});

test('JSON that is not strict JSON still goes to the YAML parser', (t) => {
  const result = parse('{defaultAdmissionRule: {evaluationMode: ALWAYS_DENY}}');
  t.true(result.ok);
  if (result.ok) t.deepEqual(result.value, { defaultAdmissionRule: { evaluationMode: 'ALWAYS_DENY' } });
});

test('JSON and the same document as YAML parse to the same value; duplicates found only where present', (t) => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
      const json = JSON.stringify({ doc: value });
      const asJson = parse(json);
      const asYaml = parseYamlOrJson({ source: 'p.yaml', text: `# yaml\n${stringify({ doc: value })}` });
      t.true(asJson.ok);
      t.true(asYaml.ok);
      // JSON has no negative zero (JSON.stringify(-0) is "0"); YAML keeps it: the one allowed difference.
      if (asJson.ok && asYaml.ok) t.deepEqual(asJson.value, withoutNegativeZero(asYaml.value));
      t.is(firstDuplicateJsonKey(json), undefined);
    }),
    { numRuns: 200 },
  );
});

/** `value` with every -0 replaced by 0 (deeply). */
function withoutNegativeZero(value: unknown): unknown {
  if (Object.is(value, -0)) return 0;
  if (Array.isArray(value)) return value.map(withoutNegativeZero);
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutNegativeZero(v)]));
  return value;
}
