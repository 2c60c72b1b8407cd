import test from 'ava';
import fc from 'fast-check';
import { isDigest, parseDigest } from '../../src/reference/digest.js';
import { InvalidReferenceError } from '../../src/reference/errors.js';

test('parses sha256 and sha512 digests', (t) => {
  t.deepEqual(
    { ...parseDigest(`sha256:${'0'.repeat(64)}`) },
    { algorithm: 'sha256', hex: '0'.repeat(64), value: `sha256:${'0'.repeat(64)}` },
  );
  t.true(isDigest(`sha512:${'f'.repeat(128)}`));
});

const bad: [string, string, string][] = [
  ['empty_fail', '', 'invalid-digest'],
  ['no_colon_fail', 'a'.repeat(64), 'invalid-digest'],
  ['short_fail', `sha256:${'a'.repeat(63)}`, 'invalid-digest'],
  ['long_fail', `sha256:${'a'.repeat(65)}`, 'invalid-digest'],
  ['uppercase_hex_fail', `sha256:${'A'.repeat(64)}`, 'invalid-digest'],
  ['uppercase_alg_fail', `SHA256:${'a'.repeat(64)}`, 'invalid-digest'],
  ['non_hex_fail', `sha256:${'g'.repeat(64)}`, 'invalid-digest'],
  ['unsupported_fail', `sha384:${'a'.repeat(96)}`, 'digest-algorithm-unsupported'],
  ['huge_fail', `sha256:${'a'.repeat(1 << 20)}`, 'invalid-digest'],
];
for (const [name, input, reason] of bad) {
  test(name, (t) => {
    const err = t.throws(() => parseDigest(input), { instanceOf: InvalidReferenceError });
    t.is(err?.code, 'CG_ERR_DIGEST_INVALID');
    t.is<string | undefined, string>(err?.reason, reason);
    t.false(isDigest(input));
  });
}

test('isDigest agrees with parseDigest on any input (it no longer builds an error to decide)', (t) => {
  const accepts = (input: string): boolean => {
    try {
      parseDigest(input);
      return true;
    } catch {
      return false;
    }
  };
  const hex = fc.constantFrom(...'0123456789abcdefABCDEFg'.split(''));
  const near = fc
    .tuple(
      fc.constantFrom('sha256', 'sha512', 'sha384', 'SHA256', 'sha256 ', ''),
      fc.constantFrom(':', '', '::'),
      fc.array(hex, { minLength: 0, maxLength: 130 }).map((cs) => cs.join('')),
      fc.constantFrom('', '\n', ' ', '0'),
    )
    .map((parts) => parts.join(''));
  const lowerHex = fc.constantFrom(...'0123456789abcdef'.split(''));
  const valid = fc.oneof(
    fc.array(lowerHex, { minLength: 64, maxLength: 64 }).map((cs) => `sha256:${cs.join('')}`),
    fc.array(lowerHex, { minLength: 128, maxLength: 128 }).map((cs) => `sha512:${cs.join('')}`),
  );
  const suffixed = fc.tuple(valid, fc.constantFrom('\n', ' ', '0', 'A')).map(([d, x]) => d + x);
  fc.assert(
    fc.property(fc.oneof(valid, suffixed, near, fc.string()), (input) => isDigest(input) === accepts(input)),
    { numRuns: 5000 },
  );
  t.pass();
});
