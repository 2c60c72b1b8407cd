import test from 'ava';
import { MAX_BREAKGLASS_BYTES, parseBreakglassDocument } from '../../src/breakglass/document.js';
import type { BreakglassProblemCode } from '../../src/breakglass/problems.js';
import { D1, HOUR, NOW, iso, yamlDoc } from './helpers.js';

const bytes = (text: string) => Buffer.from(text, 'utf8');

test('a full YAML file parses into a frozen document', (t) => {
  const text = yamlDoc(
    { scope: ['  namespaces: [payments]', '  images: ["gcr.io/acme/**"]', `  digests: ["${D1}"]`] },
    ['ticket: INC-1234', 'createdBy: alice', `createdAt: ${iso(NOW)}`],
  );
  const parsed = parseBreakglassDocument(bytes(text));
  if (!parsed.ok) return t.fail(parsed.problem.message);
  const d = parsed.document;
  t.is(d.reason, 'INC-1234 registry outage');
  t.is(d.expiresAtMs, NOW + 2 * HOUR);
  t.is(d.expiresAt, iso(NOW + 2 * HOUR));
  t.is(d.ticket, 'INC-1234');
  t.is(d.createdBy, 'alice');
  t.deepEqual(d.scope.written, { namespaces: ['payments'], images: ['gcr.io/acme/**'], digests: [D1] });
  t.true(Object.isFrozen(d) && Object.isFrozen(d.scope.written));
});

test('JSON is accepted too', (t) => {
  const json = JSON.stringify({
    reason: 'r',
    expiresAt: '2025-06-01T14:00:00+02:00',
    scope: { all: true },
    end: true,
  });
  const parsed = parseBreakglassDocument(bytes(json));
  t.true(parsed.ok);
  if (parsed.ok) t.is(parsed.document.expiresAtMs, NOW);
});

interface FailCase {
  readonly name: string;
  readonly text: string | Uint8Array;
  readonly code: BreakglassProblemCode;
  /** A field path the problem message must name. */
  readonly field?: string;
}

const fails: FailCase[] = [
  { name: 'empty_file_fail', text: '', code: 'CG_ERR_BREAKGLASS_PARSE' },
  { name: 'not_a_mapping_fail', text: '- reason: x\n', code: 'CG_ERR_BREAKGLASS_PARSE' },
  { name: 'syntax_fail', text: 'reason: [unclosed\n', code: 'CG_ERR_BREAKGLASS_PARSE' },
  { name: 'duplicate_key_fail', text: yamlDoc({}, ['reason: again']), code: 'CG_ERR_BREAKGLASS_PARSE' },
  {
    name: 'not_utf8_fail',
    text: Buffer.from([0x72, 0x3a, 0x20, 0xff, 0xfe, 0x0a]),
    code: 'CG_ERR_BREAKGLASS_PARSE',
  },
  {
    name: 'unknown_field_fail',
    text: yamlDoc({}, ['enforce: false']),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'enforce',
  },
  {
    name: 'unknown_scope_field_fail',
    text: yamlDoc({ scope: ['  all: true', '  pods: [x]'] }),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'pods',
  },
  {
    name: 'missing_reason_fail',
    text: 'expiresAt: 2025-06-01T14:00:00Z\nscope: {all: true}\nend: true\n',
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'reason',
  },
  {
    name: 'empty_reason_fail',
    text: yamlDoc({ reason: '"  "' }),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'reason',
  },
  {
    name: 'reason_too_long_fail',
    text: yamlDoc({ reason: 'x'.repeat(1025) }),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'reason',
  },
  {
    name: 'reason_control_characters_fail',
    text: yamlDoc({ reason: '"ok\\nforged log line"' }),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'reason',
  },
  {
    name: 'reason_not_string_fail',
    text: yamlDoc({ reason: '12' }),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'reason',
  },
  {
    name: 'missing_expiry_fail',
    text: yamlDoc({ expiresAt: '' }),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'expiresAt',
  },
  {
    name: 'expiry_no_offset_fail',
    text: yamlDoc({ expiresAt: '2025-06-01T14:00:00' }),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'expiresAt',
  },
  {
    name: 'expiry_unparseable_fail',
    text: yamlDoc({ expiresAt: 'tomorrow' }),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'expiresAt',
  },
  {
    name: 'expiry_number_fail',
    text: yamlDoc({ expiresAt: '1748786400' }),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'expiresAt',
  },
  {
    name: 'expiry_impossible_date_fail',
    text: yamlDoc({ expiresAt: '2025-02-30T00:00:00Z' }),
    code: 'CG_ERR_BREAKGLASS_PARSE',
  },
  {
    name: 'bad_created_at_fail',
    text: yamlDoc({}, ['createdAt: yesterday']),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'createdAt',
  },
  {
    name: 'empty_ticket_fail',
    text: yamlDoc({}, ['ticket: ""']),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'ticket',
  },
  {
    name: 'missing_scope_fail',
    text: 'reason: r\nexpiresAt: 2025-06-01T14:00:00Z\nend: true\n',
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'scope',
  },
  {
    name: 'empty_scope_fail',
    text: yamlDoc({ scope: ['  {}'] }).replace('scope:\n  {}', 'scope: {}'),
    code: 'CG_ERR_BREAKGLASS_PARSE',
  },
  {
    name: 'all_false_fail',
    text: yamlDoc({ scope: ['  all: false'] }),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'scope.all',
  },
  {
    name: 'all_string_fail',
    text: yamlDoc({ scope: ['  all: "true"'] }),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'scope.all',
  },
  {
    name: 'all_with_namespaces_fail',
    text: yamlDoc({ scope: ['  all: true', '  namespaces: [a]'] }),
    code: 'CG_ERR_BREAKGLASS_PARSE',
  },
  {
    name: 'empty_namespace_list_fail',
    text: yamlDoc({ scope: ['  namespaces: []'] }),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'scope.namespaces',
  },
  {
    name: 'bad_namespace_fail',
    text: yamlDoc({ scope: ['  namespaces: [Payments]'] }),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'scope.namespaces.0',
  },
  {
    name: 'bad_image_pattern_fail',
    text: yamlDoc({ scope: ['  images: ["gcr.io/*/app"]'] }),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'scope.images.0',
  },
  {
    name: 'tagged_image_pattern_fail',
    text: yamlDoc({ scope: ['  images: ["gcr.io/acme/app:v1"]'] }),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'scope.images.0',
  },
  {
    name: 'bad_digest_fail',
    text: yamlDoc({ scope: ['  digests: ["sha256:abc"]'] }),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'scope.digests.0',
  },
  {
    name: 'uppercase_digest_fail',
    text: yamlDoc({ scope: [`  digests: ["${D1.toUpperCase()}"]`] }),
    code: 'CG_ERR_BREAKGLASS_PARSE',
  },
  {
    name: 'too_many_entries_fail',
    text: yamlDoc({
      scope: [`  namespaces: [${Array.from({ length: 257 }, (_, i) => `ns${i}`).join(', ')}]`],
    }),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'scope.namespaces',
  },
  {
    name: 'too_large_fail',
    text: yamlDoc() + `# ${'x'.repeat(MAX_BREAKGLASS_BYTES)}\n`,
    code: 'CG_ERR_BREAKGLASS_TOO_LARGE',
  },
  {
    name: 'no_end_marker_fail',
    text: yamlDoc().replace('end: true\n', ''),
    code: 'CG_ERR_BREAKGLASS_INCOMPLETE',
  },
  {
    name: 'end_marker_not_last_fail',
    text: yamlDoc().replace('end: true\n', 'end: true\nticket: x\n'),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'end',
  },
  {
    name: 'end_marker_false_fail',
    text: yamlDoc().replace('end: true', 'end: false'),
    code: 'CG_ERR_BREAKGLASS_PARSE',
    field: 'end',
  },
  {
    name: 'alias_bomb_fail',
    text: `a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b]\nend: true\n`,
    code: 'CG_ERR_BREAKGLASS_PARSE',
  },
];

for (const c of fails) {
  test(`document: ${c.name}`, (t) => {
    const parsed = parseBreakglassDocument(typeof c.text === 'string' ? bytes(c.text) : c.text);
    if (parsed.ok) return t.fail('parsed');
    t.is(parsed.problem.code, c.code);
    if (c.field !== undefined) t.true(parsed.problem.message.includes(c.field), parsed.problem.message);
  });
}

/** Every prefix of `text` that is not the whole document (trailing whitespace aside). */
function strictPrefixes(text: string): string[] {
  const whole = text.trimEnd();
  const out: string[] = [];
  for (let i = 0; i < whole.length; i++) out.push(text.slice(0, i));
  return out;
}

test('no prefix of a valid file is valid: a file read half-written is never honoured', (t) => {
  const documents = [
    yamlDoc({ scope: ['  namespaces: [payments]', '  images: ["gcr.io/acme/**"]', `  digests: ["${D1}"]`] }, [
      'ticket: INC-1',
      'createdBy: alice',
    ]),
    JSON.stringify(
      {
        reason: 'r',
        expiresAt: '2025-06-01T14:00:00Z',
        scope: { namespaces: ['payments'], images: ['gcr.io/acme/**'] },
        end: true,
      },
      null,
      2,
    ),
  ];
  for (const doc of documents) {
    t.true(parseBreakglassDocument(bytes(doc)).ok, doc);
    const valid = strictPrefixes(doc).filter((p) => parseBreakglassDocument(bytes(p)).ok);
    t.deepEqual(valid, [], 'valid prefixes');
  }
});

test('the scope-widening prefix of 0.1 (namespaces written, images not yet) is reported as incomplete', (t) => {
  const doc = yamlDoc({ scope: ['  namespaces: [payments]', '  images: ["gcr.io/acme/**"]'] });
  const prefix = doc.slice(0, doc.indexOf('  images:'));
  const parsed = parseBreakglassDocument(bytes(prefix));
  t.false(parsed.ok);
  if (!parsed.ok) t.is(parsed.problem.code, 'CG_ERR_BREAKGLASS_INCOMPLETE');
});
