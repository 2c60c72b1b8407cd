import test from 'ava';
import fc from 'fast-check';
import { z } from 'zod';
import {
  END_FIELD,
  endMarker,
  parseEndMarkedDocument,
  type EndMarkedFailure,
} from '../../src/documents/end-marked-document.js';

const schema = z.strictObject({
  name: z.string().min(1),
  items: z.array(z.string()).max(8),
  [END_FIELD]: endMarker,
});
const MAX = 4096;
const parse = (text: string | Uint8Array, maxBytes = MAX) =>
  parseEndMarkedDocument(typeof text === 'string' ? Buffer.from(text, 'utf8') : text, { maxBytes, schema });

const failureOf = (text: string | Uint8Array, maxBytes = MAX): EndMarkedFailure => {
  const r = parse(text, maxBytes);
  if (r.ok) throw new Error(`unexpectedly valid: ${JSON.stringify(r.value)}`);
  return r.failure;
};

const VALID_YAML = 'name: payments\nitems:\n  - alpha\n  - beta\nend: true\n';
const VALID_JSON = JSON.stringify({ name: 'payments', items: ['alpha', 'beta'], end: true });

test('a complete YAML or JSON document gives the schema value', (t) => {
  for (const text of [VALID_YAML, VALID_JSON]) {
    const r = parse(text);
    if (!r.ok) return t.fail(JSON.stringify(r.failure));
    t.deepEqual(r.value, { name: 'payments', items: ['alpha', 'beta'], end: true });
  }
});

test('every prefix that cuts into a valid document is refused (a file read while being written)', (t) => {
  for (const text of [VALID_YAML, VALID_JSON]) {
    const complete = text.trimEnd().length;
    for (let n = 0; n < complete; n++) {
      const r = parse(text.slice(0, n));
      t.false(r.ok, `prefix of ${n} bytes: ${JSON.stringify(text.slice(0, n))}`);
    }
  }
});

test('property: a prefix of any valid document, cut before its last field is written, is never valid', (t) => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim() === s && s.length > 0),
      fc.array(fc.string({ maxLength: 12 }), { maxLength: 8 }),
      fc.boolean(),
      fc.nat(),
      (name, items, asJson, cut) => {
        const value = { name, items, end: true };
        const text = asJson
          ? JSON.stringify(value)
          : `name: ${JSON.stringify(name)}\nitems: ${JSON.stringify(items)}\nend: true\n`;
        fc.pre(parse(text).ok); // the whole text must be valid for its prefixes to say anything
        const n = cut % text.trimEnd().length;
        return !parse(text.slice(0, n)).ok;
      },
    ),
  );
  t.pass();
});

test('without the end marker: incomplete (the file may be half-written)', (t) => {
  t.deepEqual(failureOf('name: payments\nitems: []\n'), { kind: 'incomplete' });
  t.deepEqual(failureOf('{"name":"payments","items":[]}'), { kind: 'incomplete' });
  // A marker nested in a value is not the document's marker.
  t.deepEqual(failureOf('name: payments\nitems: []\nnested: {end: true}\n'), { kind: 'incomplete' });
});

test('the end marker must be the last top-level field', (t) => {
  const f = failureOf('end: true\nname: payments\nitems: []\n');
  t.is(f.kind, 'invalid');
  if (f.kind === 'invalid') t.deepEqual(f.lines, [`${END_FIELD}: must be the last field of the file`]);
  t.is(failureOf('{"end":true,"name":"payments","items":[]}').kind, 'invalid');
});

test('the end marker must be exactly `end: true` (the schema refuses `end: tru`, a half-written marker)', (t) => {
  for (const marker of ['tru', 'false', '1', '"true"', 'yes']) {
    const f = failureOf(`name: payments\nitems: []\nend: ${marker}\n`);
    t.is(f.kind, 'invalid', marker);
    if (f.kind === 'invalid')
      t.true(
        f.lines.some((l) => l.startsWith('end: ')),
        marker,
      );
  }
});

test('a duplicated key (a second end marker, a second name) is refused', (t) => {
  t.is(failureOf('name: a\nitems: []\nend: true\nend: true\n').kind, 'invalid');
  t.is(failureOf('name: a\nname: b\nitems: []\nend: true\n').kind, 'invalid');
});

test('over maxBytes: too large, before anything is parsed', (t) => {
  t.deepEqual(failureOf(VALID_YAML, VALID_YAML.length - 1), { kind: 'too-large' });
  t.true(parse(VALID_YAML, VALID_YAML.length).ok);
  // Not even decoded: invalid UTF-8 over the cap is still only "too large".
  t.deepEqual(failureOf(new Uint8Array(MAX + 1).fill(0xff)), { kind: 'too-large' });
});

test('not UTF-8, not YAML, not a map, and schema errors are invalid with one line per problem', (t) => {
  t.deepEqual(failureOf(new Uint8Array([0x6e, 0x3a, 0x20, 0xff, 0x0a])), {
    kind: 'invalid',
    lines: ['(root): not UTF-8 text'],
  });
  t.is(failureOf('name: [unclosed\nend: true\n').kind, 'invalid');
  const scalar = failureOf('just text');
  t.is(scalar.kind, 'invalid');
  if (scalar.kind === 'invalid') t.true(scalar.lines[0]!.startsWith('(root): '));
  const fields = failureOf('name: ""\nitems: [1]\nextra: x\nend: true\n');
  if (fields.kind !== 'invalid') return t.fail(fields.kind);
  t.true(fields.lines.some((l) => l.startsWith('name: ')));
  t.true(fields.lines.some((l) => l.startsWith('items.0: ')));
  t.true(fields.lines.some((l) => l.includes('extra')));
});

test('alias expansion is bounded (a billion-laughs document is refused, not expanded)', (t) => {
  const laughs = [
    'a: &a [x, x, x, x, x, x, x, x, x, x]',
    'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
    'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
    'end: true',
  ].join('\n');
  t.deepEqual(failureOf(laughs), {
    kind: 'invalid',
    lines: ['(syntax): Excessive alias count indicates a resource exhaustion attack'],
  });
});
