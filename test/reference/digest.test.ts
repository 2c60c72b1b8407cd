import test from 'ava';
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

test('isDigest (which builds no error) answers as parseDigest does', (t) => {
  const inputs = [
    ...bad.map(([, input]) => input),
    `sha256:${'0'.repeat(64)}`,
    `sha512:${'a'.repeat(128)}`,
    `sha256-${'0'.repeat(64)}.sig`, // a cosign signature tag
    `sha256:${'0'.repeat(64)}\n`,
    `sha512:${'a'.repeat(64)}`,
    `sha256:${'a'.repeat(128)}`,
    ':',
    'sha256:',
    `:${'0'.repeat(64)}`,
    'latest',
  ];
  const parses = (input: string) => {
    try {
      parseDigest(input);
      return true;
    } catch {
      return false;
    }
  };
  t.deepEqual(
    inputs.map((input) => isDigest(input)),
    inputs.map((input) => parses(input)),
  );
});
