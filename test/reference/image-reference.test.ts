import test from 'ava';
import fc from 'fast-check';
import { InvalidReferenceError } from '../../src/reference/errors.js';
import { parseImageIdentity, parseImageReference } from '../../src/reference/image-reference.js';

const D = `sha256:${'a'.repeat(64)}`;

const valid: [string, { name: string; tag?: string; digest?: string }][] = [
  ['nginx', { name: 'docker.io/library/nginx', tag: 'latest' }],
  ['library/nginx', { name: 'docker.io/library/nginx', tag: 'latest' }],
  ['docker.io/nginx', { name: 'docker.io/library/nginx', tag: 'latest' }],
  ['index.docker.io/library/nginx', { name: 'docker.io/library/nginx', tag: 'latest' }],
  ['nginx:1.25', { name: 'docker.io/library/nginx', tag: '1.25' }],
  [`nginx@${D}`, { name: 'docker.io/library/nginx', digest: D }],
  [`nginx:1.25@${D}`, { name: 'docker.io/library/nginx', tag: '1.25', digest: D }],
  ['myregistry/app', { name: 'docker.io/myregistry/app', tag: 'latest' }],
  ['localhost/app', { name: 'localhost/app', tag: 'latest' }],
  ['localhost:5000/app:v1', { name: 'localhost:5000/app', tag: 'v1' }],
  [
    'registry.example.com:8443/team/app/sub',
    { name: 'registry.example.com:8443/team/app/sub', tag: 'latest' },
  ],
  ['gcr.io/org/app_x__y-z.w', { name: 'gcr.io/org/app_x__y-z.w', tag: 'latest' }],
  ['[::1]:5000/app', { name: '[::1]:5000/app', tag: 'latest' }],
  ['localhost:5000', { name: 'docker.io/library/localhost', tag: '5000' }],
];

for (const [input, want] of valid) {
  test(`parses ${input}`, (t) => {
    const ref = parseImageReference(input);
    t.is(ref.name, want.name);
    t.is(ref.tag, want.tag);
    t.is(ref.digest, want.digest);
    t.true(Object.isFrozen(ref));
  });
}

const invalid: [string, string, string][] = [
  ['empty_fail', '', 'empty'],
  ['whitespace_fail', ' nginx', 'invalid-character'],
  ['inner_space_fail', 'ngi nx', 'invalid-character'],
  ['newline_fail', 'nginx\n', 'invalid-character'],
  ['nul_fail', 'nginx\u0000', 'invalid-character'],
  ['del_fail', 'nginx\u007f', 'invalid-character'],
  ['homoglyph_fail', 'gcr.io/org/аpp', 'invalid-character'],
  ['docker_scheme_fail', 'docker://nginx', 'scheme-not-allowed'],
  ['https_scheme_fail', 'https://gcr.io/org/app', 'scheme-not-allowed'],
  ['uppercase_path_fail', 'gcr.io/Org/app', 'uppercase-path'],
  ['uppercase_hub_fail', 'Nginx', 'uppercase-path'],
  ['double_slash_fail', 'gcr.io//app', 'invalid-path'],
  ['trailing_slash_fail', 'gcr.io/app/', 'invalid-path'],
  ['leading_separator_fail', 'gcr.io/-app', 'invalid-path'],
  ['bad_tag_fail', 'nginx:-x', 'invalid-tag'],
  ['long_tag_fail', `nginx:${'a'.repeat(129)}`, 'invalid-tag'],
  ['short_digest_fail', `nginx@sha256:${'a'.repeat(63)}`, 'invalid-digest'],
  ['upper_digest_fail', `nginx@sha256:${'A'.repeat(64)}`, 'invalid-digest'],
  ['unknown_digest_alg_fail', `nginx@md5:${'a'.repeat(32)}`, 'digest-algorithm-unsupported'],
  ['two_ats_fail', `nginx@${D}@${D}`, 'invalid-digest'],
  ['bare_hex_fail', 'a'.repeat(64), 'ambiguous-identifier'],
  ['bad_domain_fail', '-bad.io/app', 'invalid-domain'],
  ['name_too_long_fail', `gcr.io/${'a'.repeat(250)}`, 'name-too-long'],
  ['too_long_fail', `gcr.io/${'a/'.repeat(2100)}x`, 'too-long'],
  ['mebibyte_fail', 'a'.repeat(1024 * 1024), 'too-long'],
];

for (const [name, input, reason] of invalid) {
  test(name, (t) => {
    const err = t.throws(() => parseImageReference(input), { instanceOf: InvalidReferenceError });
    t.is<string | undefined, string>(err?.reason, reason);
    t.true(err?.code === 'CG_ERR_REFERENCE_INVALID' || err?.code === 'CG_ERR_DIGEST_INVALID');
  });
}

test('Docker Hub equivalents normalise to one name', (t) => {
  const forms = [
    'nginx',
    'library/nginx',
    'docker.io/nginx',
    'docker.io/library/nginx',
    'index.docker.io/library/nginx',
  ];
  const names = new Set(forms.map((f) => parseImageReference(`${f}@${D}`).name));
  t.deepEqual([...names], ['docker.io/library/nginx']);
});

test('look-alike hosts stay distinct names', (t) => {
  t.is(parseImageReference('gcr.io.evil.com/org/x').name, 'gcr.io.evil.com/org/x');
  t.is(parseImageReference('gcr.io/org-evil/x').name, 'gcr.io/org-evil/x');
});

test('a digest is required for an identity', (t) => {
  t.deepEqual(parseImageIdentity(`nginx:1@${D}`), { name: 'docker.io/library/nginx', digest: D });
  t.is(
    t.throws(() => parseImageIdentity('nginx:1'), { instanceOf: InvalidReferenceError })?.reason,
    'digest-required',
  );
});

test('1 MiB inputs are rejected in bounded time', (t) => {
  const inputs = [
    'a'.repeat(1 << 20),
    `gcr.io/${'a-'.repeat(1 << 19)}`,
    `${'a'.repeat(4000)}!`,
    `${'a.'.repeat(2000)}/x`,
  ];
  for (const input of inputs) {
    t.throws(() => parseImageReference(input), { instanceOf: InvalidReferenceError });
    // Best of five, so a GC pause of a busy CI machine is not mistaken for a slow parser.
    let best = Infinity;
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      try {
        parseImageReference(input);
      } catch {
        // expected
      }
      best = Math.min(best, performance.now() - start);
    }
    t.true(best < 10, `took ${best} ms`);
  }
});

test('fuzz: only InvalidReferenceError escapes, and canonical forms re-parse to themselves', (t) => {
  const alphabet = fc.constantFrom(
    ...'abcAB09._-/:@ \n*'.split(''),
    'sha256:',
    'docker.io/',
    'localhost:5000/',
  );
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 300 }),
        fc.array(alphabet, { maxLength: 60 }).map((a) => a.join('')),
      ),
      (input) => {
        try {
          const ref = parseImageReference(input);
          const again = parseImageReference(ref.canonical);
          return again.name === ref.name && again.digest === ref.digest;
        } catch (err) {
          return err instanceof InvalidReferenceError;
        }
      },
    ),
    { numRuns: 3000 },
  );
  t.pass();
});
