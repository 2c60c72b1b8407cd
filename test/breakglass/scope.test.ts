import test from 'ava';
import { compileNamePattern } from '../../src/policy/name-pattern.js';
import {
  compileBreakglassScope,
  matchBreakglassScope,
  type BreakglassRequest,
} from '../../src/breakglass/scope.js';
import { D1, D2 } from './helpers.js';

interface ScopeCase {
  readonly name: string;
  readonly scope: { all?: true; namespaces?: string[]; images?: string[]; digests?: string[] };
  readonly request: Partial<BreakglassRequest>;
  /** What matched, or undefined for "outside the scope". */
  readonly matched: readonly string[] | undefined;
}

const request = (r: Partial<BreakglassRequest>): BreakglassRequest => ({
  namespace: r.namespace ?? 'payments',
  imageName: r.imageName ?? 'gcr.io/acme/app',
  digest: r.digest ?? D1,
  ...r,
});

const cases: ScopeCase[] = [
  { name: 'all', scope: { all: true }, request: {}, matched: ['all'] },
  {
    name: 'all with nothing known',
    scope: { all: true },
    request: { namespace: undefined, imageName: undefined, digest: undefined },
    matched: ['all'],
  },
  { name: 'namespace', scope: { namespaces: ['payments'] }, request: {}, matched: ['namespace:payments'] },
  {
    name: 'one of several namespaces',
    scope: { namespaces: ['a', 'payments'] },
    request: {},
    matched: ['namespace:payments'],
  },
  {
    name: 'other_namespace_fail',
    scope: { namespaces: ['payments'] },
    request: { namespace: 'default' },
    matched: undefined,
  },
  { name: 'namespace_prefix_fail', scope: { namespaces: ['pay'] }, request: {}, matched: undefined },
  {
    name: 'unknown_namespace_fail',
    scope: { namespaces: ['payments'] },
    request: { namespace: undefined },
    matched: undefined,
  },
  {
    name: 'exact image',
    scope: { images: ['gcr.io/acme/app'] },
    request: {},
    matched: ['image:gcr.io/acme/app'],
  },
  {
    name: 'one-level pattern',
    scope: { images: ['gcr.io/acme/*'] },
    request: {},
    matched: ['image:gcr.io/acme/*'],
  },
  {
    name: 'any-depth pattern',
    scope: { images: ['gcr.io/**'] },
    request: { imageName: 'gcr.io/acme/team/app' },
    matched: ['image:gcr.io/**'],
  },
  {
    name: 'docker hub short name',
    scope: { images: ['nginx'] },
    request: { imageName: 'docker.io/library/nginx' },
    matched: ['image:nginx'],
  },
  {
    name: 'one_level_deeper_fail',
    scope: { images: ['gcr.io/acme/*'] },
    request: { imageName: 'gcr.io/acme/team/app' },
    matched: undefined,
  },
  {
    name: 'prefix_lookalike_fail',
    scope: { images: ['gcr.io/acme/**'] },
    request: { imageName: 'gcr.io/acme-evil/app' },
    matched: undefined,
  },
  {
    name: 'other_image_fail',
    scope: { images: ['gcr.io/acme/app'] },
    request: { imageName: 'gcr.io/acme/app2' },
    matched: undefined,
  },
  {
    name: 'unknown_image_fail',
    scope: { images: ['gcr.io/**'] },
    request: { imageName: undefined },
    matched: undefined,
  },
  {
    name: 'pinned image pattern',
    scope: { images: [`gcr.io/acme/app@${D1}`] },
    request: {},
    matched: [`image:gcr.io/acme/app@${D1}`],
  },
  {
    name: 'pinned_other_digest_fail',
    scope: { images: [`gcr.io/acme/app@${D1}`] },
    request: { digest: D2 },
    matched: undefined,
  },
  { name: 'digest', scope: { digests: [D1] }, request: {}, matched: [`digest:${D1}`] },
  { name: 'other_digest_fail', scope: { digests: [D1] }, request: { digest: D2 }, matched: undefined },
  {
    name: 'unknown_digest_fail',
    scope: { digests: [D1] },
    request: { digest: undefined },
    matched: undefined,
  },
  {
    name: 'namespace and image both match',
    scope: { namespaces: ['payments'], images: ['gcr.io/acme/**'] },
    request: {},
    matched: ['namespace:payments', 'image:gcr.io/acme/**'],
  },
  {
    name: 'namespace_matches_image_not_fail',
    scope: { namespaces: ['payments'], images: ['gcr.io/other/**'] },
    request: {},
    matched: undefined,
  },
  {
    name: 'image_matches_namespace_not_fail',
    scope: { namespaces: ['default'], images: ['gcr.io/acme/**'] },
    request: {},
    matched: undefined,
  },
  {
    name: 'all three match',
    scope: { namespaces: ['payments'], images: ['gcr.io/acme/app'], digests: [D1] },
    request: {},
    matched: ['namespace:payments', 'image:gcr.io/acme/app', `digest:${D1}`],
  },
  { name: 'empty_scope_fail', scope: {}, request: {}, matched: undefined },
];

for (const c of cases) {
  test(`scope: ${c.name}`, (t) => {
    const scope = compileBreakglassScope({
      ...c.scope,
      images: c.scope.images?.map((p) => compileNamePattern(p)),
    });
    t.deepEqual(matchBreakglassScope(scope, request(c.request)), c.matched);
  });
}
