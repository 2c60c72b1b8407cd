import test from 'ava';
import fc from 'fast-check';
import { VerifyError } from '../../src/verify/errors.js';
import { createSimpleSigningPayload, parseSimpleSigningPayload } from '../../src/verify/simple-signing.js';
import { digestOf } from './fixtures.js';

const D = digestOf('payload');
const enc = (s: string) => Buffer.from(s);
const doc = (critical: unknown, extra: object = {}) => enc(JSON.stringify({ critical, ...extra }));
const good = { identity: { 'docker-reference': 'gcr.io/org/app' }, image: { 'docker-manifest-digest': D } };

const accepted: [string, Uint8Array][] = [
  ['Binary Authorization type', doc({ ...good, type: 'Google cloud binauthz container signature' })],
  [
    'lowercase Binary Authorization type',
    doc({ ...good, type: 'google cloud binauthz container signature' }),
  ],
  [
    'cosign type with optional',
    doc({ ...good, type: 'cosign container image signature' }, { optional: { a: 'b' } }),
  ],
  [
    'cosign type with null optional',
    doc({ ...good, type: 'cosign container image signature' }, { optional: null }),
  ],
  ['criguard sign output', createSimpleSigningPayload('gcr.io/org/app', D)],
];
for (const [name, bytes] of accepted) {
  test(`accepts ${name}`, (t) => {
    const p = parseSimpleSigningPayload(bytes);
    t.is(p.manifestDigest, D);
    t.is(p.dockerReference, 'gcr.io/org/app');
  });
}

const full = JSON.stringify({ critical: { ...good, type: 'cosign container image signature' } });
const rejected: [string, Uint8Array, string][] = [
  ['not_json_fail', enc('hello'), 'CG_ERR_PAYLOAD_NOT_JSON'],
  ['truncated_fail', enc(full.slice(0, full.length - 3)), 'CG_ERR_PAYLOAD_NOT_JSON'],
  ['invalid_utf8_fail', Uint8Array.from([0x7b, 0xff, 0x7d]), 'CG_ERR_PAYLOAD_NOT_JSON'],
  ['empty_fail', new Uint8Array(), 'CG_ERR_PAYLOAD_NOT_JSON'],
  ['missing_critical_fail', enc(JSON.stringify({ optional: {} })), 'CG_ERR_PAYLOAD_INVALID'],
  ['array_fail', enc('[]'), 'CG_ERR_PAYLOAD_INVALID'],
  [
    'missing_identity_fail',
    doc({ image: good.image, type: 'cosign container image signature' }),
    'CG_ERR_PAYLOAD_INVALID',
  ],
  [
    'missing_digest_fail',
    doc({ identity: good.identity, type: 'cosign container image signature' }),
    'CG_ERR_PAYLOAD_INVALID',
  ],
  [
    'digest_not_string_fail',
    doc({ ...good, image: { 'docker-manifest-digest': 1 }, type: 'cosign container image signature' }),
    'CG_ERR_PAYLOAD_INVALID',
  ],
  ['missing_type_fail', doc(good), 'CG_ERR_PAYLOAD_INVALID'],
  ['wrong_type_fail', doc({ ...good, type: 'atomic container signature' }), 'CG_ERR_PAYLOAD_TYPE'],
  [
    'type_case_variant_fail',
    doc({ ...good, type: 'GOOGLE CLOUD BINAUTHZ CONTAINER SIGNATURE' }),
    'CG_ERR_PAYLOAD_TYPE',
  ],
  ['too_large_fail', enc(`${full.slice(0, -1)},"pad":"${'x'.repeat(70_000)}"}`), 'CG_ERR_PAYLOAD_TOO_LARGE'],
];
for (const [name, bytes, code] of rejected) {
  test(name, (t) => {
    t.is<string | undefined, string>(
      t.throws(() => parseSimpleSigningPayload(bytes), { instanceOf: VerifyError })?.code,
      code,
    );
  });
}

test('fuzz: the payload parser only ever throws VerifyError', (t) => {
  const jsonish = fc.json().map((s) => enc(s));
  const bytes = fc.uint8Array({ maxLength: 300 });
  const mutated = fc
    .tuple(fc.nat(full.length), fc.string({ maxLength: 5 }))
    .map(([i, s]) => enc(full.slice(0, i) + s + full.slice(i)));
  fc.assert(
    fc.property(fc.oneof(jsonish, bytes, mutated), (input) => {
      try {
        parseSimpleSigningPayload(input);
        return true;
      } catch (err) {
        return err instanceof VerifyError;
      }
    }),
    { numRuns: 3000 },
  );
  t.pass();
});
