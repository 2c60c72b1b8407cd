import test from 'ava';
import { createAllowlistIndex } from '../../src/policy/allowlist.js';
import { compileNamePattern, NamePatternError } from '../../src/policy/name-pattern.js';

const D = `sha256:${'b'.repeat(64)}`;
const E = `sha256:${'c'.repeat(64)}`;

function matches(pattern: string, name: string, digest?: string): boolean {
  return (
    createAllowlistIndex([{ compiled: compileNamePattern(pattern), kind: 'allowlist' }]).match(
      name,
      digest,
    ) !== undefined
  );
}

const cases: [string, string, boolean][] = [
  ['gcr.io/org/*', 'gcr.io/org/app', true],
  ['gcr.io/org/*', 'gcr.io/org/app/sub', false],
  ['gcr.io/org/**', 'gcr.io/org/app/sub', true],
  ['gcr.io/org/**', 'gcr.io/org/app', true],
  ['gcr.io/org/app*', 'gcr.io/org/app-canary', true],
  ['gcr.io/org/app', 'gcr.io/org/app', true],
  ['nginx', 'docker.io/library/nginx', true],
  ['docker.io/nginx', 'docker.io/library/nginx', true],
  ['index.docker.io/library/*', 'docker.io/library/nginx', true],
  ['library/*', 'docker.io/library/nginx', true],
  [`gcr.io/org/app@${D}`, 'gcr.io/org/app', false],
];
for (const [pattern, name, want] of cases) {
  test(`${pattern} ${want ? 'matches' : 'does not match'} ${name}`, (t) =>
    t.is(matches(pattern, name), want));
}

const lookalikes: [string, string, string][] = [
  ['host_suffix_lookalike_fail', 'gcr.io/org/*', 'gcr.io.evil.com/org/x'],
  ['path_prefix_lookalike_fail', 'gcr.io/org/*', 'gcr.io/org-evil/x'],
  ['deep_path_prefix_lookalike_fail', 'gcr.io/org/**', 'gcr.io/org-evil/x/y'],
  ['exact_prefix_lookalike_fail', 'gcr.io/org/app', 'gcr.io/org/app2'],
  ['hub_user_lookalike_fail', 'nginx', 'docker.io/nginx/nginx'],
  ['port_lookalike_fail', 'gcr.io/org/*', 'gcr.io:443/org/x'],
];
for (const [name, pattern, image] of lookalikes) test(name, (t) => t.false(matches(pattern, image)));

test('digest-pinned patterns need the name and the digest', (t) => {
  t.true(matches(`gcr.io/org/app@${D}`, 'gcr.io/org/app', D));
  t.false(matches(`gcr.io/org/app@${D}`, 'gcr.io/org/app', E));
  t.false(matches(`gcr.io/org/app@${D}`, 'gcr.io/org/other', D));
});

const invalid: [string, string][] = [
  ['wildcard_in_middle_fail', 'gcr.io/*/app'],
  ['wildcard_in_host_fail', 'gcr.*'],
  ['triple_star_fail', 'gcr.io/org/***'],
  ['tag_pattern_fail', 'gcr.io/org/app:v1'],
  ['uppercase_fail', 'gcr.io/Org/*'],
  ['digest_with_wildcard_fail', `gcr.io/org/*@${D}`],
  ['bad_digest_fail', 'gcr.io/org/app@sha256:abc'],
  ['empty_fail', ''],
  ['scheme_fail', 'docker://gcr.io/org/app'],
];
for (const [name, pattern] of invalid) {
  test(name, (t) => {
    const err = t.throws(() => compileNamePattern(pattern), { instanceOf: NamePatternError });
    t.is(err?.code, 'CG_ERR_POLICY_PATTERN_INVALID');
  });
}
