import test from 'ava';
import { PolicyLoadError } from '../../src/policy/errors.js';
import { loadPolicy } from '../../src/policy/load-policy.js';
import { SIGNATURE_ALGORITHMS } from '../../src/verify/algorithms.js';
import { attestorDoc, makeKey, rule } from '../verify/fixtures.js';
import { policyFrom } from './policy-fixtures.js';

const p256 = makeKey('ECDSA_P256_SHA256');
const p384 = makeKey('ECDSA_P384_SHA384');
const ed = makeKey('ED25519');
const A = 'projects/p/attestors/built';
const base = () => ({
  defaultAdmissionRule: rule('REQUIRE_ATTESTATION', [A]),
  attestors: [attestorDoc(A, [{ id: 'k1', key: p256 }])],
});

function issuesOf(fn: () => unknown): { path: string; code: string }[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof PolicyLoadError) return err.issues.map((i) => ({ path: i.path, code: i.code }));
    throw err;
  }
  throw new Error('expected PolicyLoadError');
}

test('loads a minimal policy into a frozen compiled policy with a revision', (t) => {
  const policy = policyFrom(base());
  t.true(Object.isFrozen(policy));
  t.true(Object.isFrozen(policy.defaultRule));
  t.regex(policy.revision, /^sha256:[0-9a-f]{64}$/);
  t.throws(() => (policy.namespaceRules as Map<string, unknown>).set('x', {}), { instanceOf: TypeError });
  t.is(policy.defaultRule.attestors[0]?.name, A);
  t.is(policy.defaultRule.onUndecided, 'DENY');
});

test('the revision is stable for equal documents and changes with a key', (t) => {
  const a = policyFrom(base()).revision;
  const reordered = { attestors: base().attestors, defaultAdmissionRule: base().defaultAdmissionRule };
  t.is(policyFrom(reordered).revision, a);
  const rotated = {
    ...base(),
    attestors: [attestorDoc(A, [{ id: 'k1', key: makeKey('ECDSA_P256_SHA256') }])],
  };
  t.not(policyFrom(rotated).revision, a);
});

test('YAML and JSON load alike; a GKE export loads unchanged', (t) => {
  const yaml = `
admissionWhitelistPatterns:
- namePattern: gcr.io/google_containers/*
- namePattern: gcr.io/google-containers/*
- namePattern: k8s.gcr.io/**
- namePattern: gke.gcr.io/**
- namePattern: gcr.io/stackdriver-agents/*
clusterAdmissionRules:
  us-central1-a.prod-cluster:
    enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
    evaluationMode: REQUIRE_ATTESTATION
    requireAttestationsBy:
    - projects/my-project/attestors/built-by-cloud-build
defaultAdmissionRule:
  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
  evaluationMode: ALWAYS_DENY
description: Production policy
etag: '"Ag8FHvMxpWk="'
globalPolicyEvaluationMode: ENABLE
kubernetesNamespaceAdmissionRules:
  dev:
    enforcementMode: DRYRUN_AUDIT_LOG_ONLY
    evaluationMode: REQUIRE_ATTESTATION
    requireAttestationsBy:
    - built-by-cloud-build
name: projects/my-project/policy
updateTime: '2024-05-02T10:11:12.123456Z'
`;
  const attestor = `
name: projects/my-project/attestors/built-by-cloud-build
updateTime: '2024-05-01T00:00:00Z'
userOwnedGrafeasNote:
  delegationServiceAccountEmail: service-1@gcp-sa-binaryauthorization.iam.gserviceaccount.com
  noteReference: projects/my-project/notes/built-by-cloud-build
  publicKeys:
  - id: //cloudkms.googleapis.com/v1/projects/my-project/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1
    pkixPublicKey:
      publicKeyPem: |
${p256.publicPem
  .trimEnd()
  .split('\n')
  .map((l) => `        ${l}`)
  .join('\n')}
      signatureAlgorithm: EC_SIGN_P256_SHA256
`;
  const policy = loadPolicy(
    { policy: { source: 'policy.yaml', text: yaml }, attestorFiles: [{ source: 'a.yaml', text: attestor }] },
    { cluster: 'us-central1-a.prod-cluster' },
  );
  t.is(policy.clusterRule?.key, 'us-central1-a.prod-cluster');
  t.is(policy.namespaceRules.get('dev')?.attestors[0]?.keys[0]?.algorithm, 'ECDSA_P256_SHA256');
  t.is(policy.allowlist.size, 5);
});

test('every algorithm (and the aliases) loads with a matching key', (t) => {
  const algorithms = SIGNATURE_ALGORITHMS;
  // One attestor per algorithm: the RSA fixtures share a key per size, and one key may not appear twice
  // in an attestor.
  const docs = algorithms.map((alg, i) =>
    attestorDoc(i === 0 ? A : `extra-${i}`, [{ id: `k${i}`, key: makeKey(alg) }]),
  );
  const policy = policyFrom({ ...base(), attestors: docs });
  t.deepEqual(
    algorithms.map((_, i) => policy.attestors.get(i === 0 ? A : `extra-${i}`)?.keys[0]?.algorithm),
    [...algorithms],
  );
});

test('a key without id gets the Binary Authorization ni:///sha-256 id', (t) => {
  const doc = base();
  const attestor = {
    name: A,
    userOwnedGrafeasNote: {
      publicKeys: [{ pkixPublicKey: { publicKeyPem: ed.publicPem, signatureAlgorithm: 'ED25519' } }],
    },
  };
  const policy = policyFrom({ ...doc, attestors: [attestor] });
  t.regex(policy.attestors.get(A)?.keys[0]?.id ?? '', /^ni:\/\/\/sha-256;[A-Za-z0-9_-]{43}$/);
});

test('short and full attestor names resolve to each other', (t) => {
  const policy = policyFrom({
    defaultAdmissionRule: rule('REQUIRE_ATTESTATION', ['built']),
    kubernetesNamespaceAdmissionRules: { prod: rule('REQUIRE_ATTESTATION', ['projects/q/attestors/short']) },
    attestors: [attestorDoc(A, [{ id: 'k', key: p256 }]), attestorDoc('short', [{ id: 'k', key: p256 }])],
  });
  t.is(policy.defaultRule.attestors[0]?.name, A);
  t.is(policy.namespaceRules.get('prod')?.attestors[0]?.name, 'short');
});

test('attestors load from separate files, one or a list per file', (t) => {
  const policy = policyFrom({ defaultAdmissionRule: rule('REQUIRE_ATTESTATION', ['a', 'b', 'c']) }, {}, [
    attestorDoc('a', [{ id: 'k', key: p256 }]),
    [attestorDoc('b', [{ id: 'k', key: p256 }]), attestorDoc('c', [{ id: 'k', key: ed }])],
  ]);
  t.is(policy.defaultRule.attestors.length, 3);
});

const failures: [string, () => object, { path: string; code: string }[]][] = [
  [
    'missing_default_rule_fail',
    () => ({}),
    [{ path: 'defaultAdmissionRule', code: 'CG_ERR_POLICY_REQUIRED' }],
  ],
  [
    'unknown_top_field_fail',
    () => ({ ...base(), extra: 1 }),
    [{ path: 'extra', code: 'CG_ERR_POLICY_UNKNOWN_FIELD' }],
  ],
  [
    'unknown_enum_fail',
    () => ({
      defaultAdmissionRule: {
        evaluationMode: 'EVALUATION_MODE_UNSPECIFIED',
        enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      },
    }),
    [{ path: 'defaultAdmissionRule.evaluationMode', code: 'CG_ERR_POLICY_ENUM' }],
  ],
  [
    'wrong_type_fail',
    () => ({ ...base(), admissionWhitelistPatterns: 'gcr.io/*' }),
    [{ path: 'admissionWhitelistPatterns', code: 'CG_ERR_POLICY_TYPE' }],
  ],
  [
    'require_attestation_without_attestors_fail',
    () => ({ defaultAdmissionRule: rule('REQUIRE_ATTESTATION') }),
    [{ path: 'defaultAdmissionRule.requireAttestationsBy', code: 'CG_ERR_POLICY_EMPTY' }],
  ],
  [
    'attestors_on_always_allow_fail',
    () => ({ ...base(), defaultAdmissionRule: { ...rule('ALWAYS_ALLOW'), requireAttestationsBy: [A] } }),
    [{ path: 'defaultAdmissionRule.requireAttestationsBy', code: 'CG_ERR_POLICY_ATTESTATIONS_MISMATCH' }],
  ],
  [
    'service_account_rules_fail',
    () => ({ ...base(), kubernetesServiceAccountAdmissionRules: { 'ns:sa': rule('ALWAYS_ALLOW') } }),
    [{ path: 'kubernetesServiceAccountAdmissionRules', code: 'CG_ERR_POLICY_RULE_UNSUPPORTED' }],
  ],
  [
    'istio_rules_fail',
    () => ({ ...base(), istioServiceIdentityAdmissionRules: { 'spiffe://x': rule('ALWAYS_ALLOW') } }),
    [{ path: 'istioServiceIdentityAdmissionRules', code: 'CG_ERR_POLICY_RULE_UNSUPPORTED' }],
  ],
  [
    'unknown_attestor_fail',
    () => ({ ...base(), defaultAdmissionRule: rule('REQUIRE_ATTESTATION', ['nope']) }),
    [{ path: 'defaultAdmissionRule.requireAttestationsBy[0]', code: 'CG_ERR_POLICY_ATTESTOR_UNKNOWN' }],
  ],
  [
    'other_project_attestor_fail',
    () => ({
      ...base(),
      defaultAdmissionRule: rule('REQUIRE_ATTESTATION', ['projects/other/attestors/built']),
    }),
    [{ path: 'defaultAdmissionRule.requireAttestationsBy[0]', code: 'CG_ERR_POLICY_ATTESTOR_UNKNOWN' }],
  ],
  [
    'ambiguous_attestor_fail',
    () => ({
      defaultAdmissionRule: rule('REQUIRE_ATTESTATION', ['built']),
      attestors: [
        attestorDoc(A, [{ id: 'k', key: p256 }]),
        attestorDoc('projects/q/attestors/built', [{ id: 'k', key: p256 }]),
      ],
    }),
    [{ path: 'defaultAdmissionRule.requireAttestationsBy[0]', code: 'CG_ERR_POLICY_ATTESTOR_AMBIGUOUS' }],
  ],
  [
    'duplicate_attestor_fail',
    () => ({ ...base(), attestors: [...base().attestors, ...base().attestors] }),
    [{ path: 'attestors[1].name', code: 'CG_ERR_POLICY_DUPLICATE' }],
  ],
  [
    'empty_public_keys_fail',
    () => ({ ...base(), attestors: [{ name: A, userOwnedGrafeasNote: { publicKeys: [] } }] }),
    [{ path: 'attestors[0].userOwnedGrafeasNote.publicKeys', code: 'CG_ERR_POLICY_EMPTY' }],
  ],
  [
    'p384_key_declared_p256_fail',
    () => ({
      ...base(),
      attestors: [attestorDoc(A, [{ id: 'k', key: { ...p384, algorithm: 'ECDSA_P256_SHA256' } }])],
    }),
    [
      {
        path: 'attestors[0].userOwnedGrafeasNote.publicKeys[0].pkixPublicKey.publicKeyPem',
        code: 'CG_ERR_POLICY_KEY_ALGORITHM_MISMATCH',
      },
    ],
  ],
  [
    'ec_key_declared_ed25519_fail',
    () => ({ ...base(), attestors: [attestorDoc(A, [{ id: 'k', key: { ...p256, algorithm: 'ED25519' } }])] }),
    [
      {
        path: 'attestors[0].userOwnedGrafeasNote.publicKeys[0].pkixPublicKey.publicKeyPem',
        code: 'CG_ERR_POLICY_KEY_ALGORITHM_MISMATCH',
      },
    ],
  ],
  [
    'unknown_algorithm_fail',
    () => ({
      ...base(),
      attestors: [attestorDoc(A, [{ id: 'k', key: { ...p256, algorithm: 'ECDSA_P256_SHA1' as 'ED25519' } }])],
    }),
    [
      {
        path: 'attestors[0].userOwnedGrafeasNote.publicKeys[0].pkixPublicKey.signatureAlgorithm',
        code: 'CG_ERR_POLICY_ENUM',
      },
    ],
  ],
  [
    'private_key_in_policy_fail',
    () => ({
      ...base(),
      attestors: [
        attestorDoc(A, [
          {
            id: 'k',
            key: { ...p256, publicPem: p256.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
          },
        ]),
      ],
    }),
    [
      {
        path: 'attestors[0].userOwnedGrafeasNote.publicKeys[0].pkixPublicKey.publicKeyPem',
        code: 'CG_ERR_POLICY_KEY_INVALID',
      },
    ],
  ],
  [
    'pgp_key_invalid_fail',
    () => ({
      ...base(),
      attestors: [
        { name: A, userOwnedGrafeasNote: { publicKeys: [{ id: 'x', asciiArmoredPgpPublicKey: 'x' }] } },
      ],
    }),
    [
      {
        path: 'attestors[0].userOwnedGrafeasNote.publicKeys[0].asciiArmoredPgpPublicKey',
        code: 'CG_ERR_POLICY_KEY_INVALID',
      },
    ],
  ],
  [
    'duplicate_key_id_fail',
    () => ({
      ...base(),
      attestors: [
        attestorDoc(A, [
          { id: 'k', key: p256 },
          { id: 'k', key: ed },
        ]),
      ],
    }),
    [{ path: 'attestors[0].userOwnedGrafeasNote.publicKeys', code: 'CG_ERR_POLICY_DUPLICATE' }],
  ],
  [
    'bad_namespace_key_fail',
    () => ({ ...base(), kubernetesNamespaceAdmissionRules: { Not_A_Namespace: rule('ALWAYS_ALLOW') } }),
    [{ path: 'kubernetesNamespaceAdmissionRules.Not_A_Namespace', code: 'CG_ERR_POLICY_VALUE' }],
  ],
  [
    'bad_pattern_fail',
    () => ({ ...base(), admissionWhitelistPatterns: [{ namePattern: 'gcr.io/*/x' }] }),
    [{ path: 'admissionWhitelistPatterns[0].namePattern', code: 'CG_ERR_POLICY_PATTERN_INVALID' }],
  ],
  [
    'node_critical_without_digest_fail',
    () => ({ ...base(), criguard: { nodeCriticalImages: ['registry.k8s.io/kube-proxy:v1.30.0'] } }),
    [{ path: 'criguard.nodeCriticalImages[0]', code: 'CG_ERR_POLICY_PATTERN_INVALID' }],
  ],
  [
    'bad_on_undecided_fail',
    () => ({
      ...base(),
      defaultAdmissionRule: { ...rule('ALWAYS_DENY'), criguard: { onUndecided: 'MAYBE' } },
    }),
    [{ path: 'defaultAdmissionRule.criguard.onUndecided', code: 'CG_ERR_POLICY_ENUM' }],
  ],
  [
    'on_undecided_allow_without_registries_fail',
    () => ({
      ...base(),
      defaultAdmissionRule: { ...rule('ALWAYS_DENY'), criguard: { onUndecided: 'ALLOW' } },
    }),
    [
      {
        path: 'defaultAdmissionRule.criguard.onUndecidedRegistries',
        code: 'CG_ERR_POLICY_REQUIRED',
      },
    ],
  ],
  [
    'on_undecided_registries_invalid_fail',
    () => ({
      ...base(),
      defaultAdmissionRule: {
        ...rule('ALWAYS_DENY'),
        criguard: { onUndecided: 'ALLOW', onUndecidedRegistries: ['https://Gcr.io/x'] },
      },
    }),
    [
      {
        path: 'defaultAdmissionRule.criguard.onUndecidedRegistries[0]',
        code: 'CG_ERR_POLICY_VALUE',
      },
    ],
  ],
  [
    'on_undecided_registries_without_allow_fail',
    () => ({
      ...base(),
      defaultAdmissionRule: { ...rule('ALWAYS_DENY'), criguard: { onUndecidedRegistries: ['gcr.io'] } },
    }),
    [
      {
        path: 'defaultAdmissionRule.criguard.onUndecidedRegistries',
        code: 'CG_ERR_POLICY_VALUE',
      },
    ],
  ],
];
for (const [name, doc, want] of failures) {
  test(name, (t) => {
    t.deepEqual(
      issuesOf(() => policyFrom(doc())),
      want,
    );
  });
}

test('every problem is reported at once, with field paths', (t) => {
  const issues = issuesOf(() =>
    policyFrom({
      defaultAdmissionRule: {
        evaluationMode: 'MAYBE',
        enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
        extra: true,
      },
      kubernetesNamespaceAdmissionRules: { prod: rule('REQUIRE_ATTESTATION', ['missing']) },
      admissionWhitelistPatterns: [{ namePattern: 'gcr.io/*/x' }],
      attestors: [{ name: A, userOwnedGrafeasNote: { publicKeys: [] } }],
      unknown: 1,
    }),
  );
  t.deepEqual(issues.map((i) => i.code).sort(), [
    'CG_ERR_POLICY_ATTESTOR_UNKNOWN',
    'CG_ERR_POLICY_EMPTY',
    'CG_ERR_POLICY_ENUM',
    'CG_ERR_POLICY_PATTERN_INVALID',
    'CG_ERR_POLICY_UNKNOWN_FIELD',
    'CG_ERR_POLICY_UNKNOWN_FIELD',
  ]);
});

const textFailures: [string, string, string][] = [
  ['yaml_syntax_fail', 'defaultAdmissionRule: [', 'CG_ERR_POLICY_SYNTAX'],
  ['duplicate_yaml_key_fail', 'a: 1\na: 2\n', 'CG_ERR_POLICY_SYNTAX'],
  ['empty_document_fail', '', 'CG_ERR_POLICY_TYPE'],
  ['scalar_document_fail', '42', 'CG_ERR_POLICY_TYPE'],
  ['too_large_fail', `# ${'x'.repeat(4 * 1024 * 1024)}`, 'CG_ERR_POLICY_TOO_LARGE'],
];
for (const [name, text, code] of textFailures) {
  test(name, (t) => {
    const issues = issuesOf(() => loadPolicy({ policy: { source: 'p.yaml', text } }));
    t.true(
      issues.some((i) => i.code === code),
      JSON.stringify(issues),
    );
  });
}

test('duplicate_key_in_attestor_fail: one public key under two ids is refused (thresholds count keys)', async (t) => {
  const { makeKey, attestorDoc } = await import('../verify/fixtures.js');
  const { policyFrom } = await import('./policy-fixtures.js');
  const key = makeKey('ECDSA_P256_SHA256');
  const err = t.throws(() =>
    policyFrom({
      defaultAdmissionRule: {
        evaluationMode: 'REQUIRE_ATTESTATION',
        enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
        requireAttestationsBy: ['two-person'],
      },
      attestors: [
        attestorDoc(
          'two-person',
          [
            { id: 'alice', key },
            { id: 'bob', key },
          ],
          2,
        ),
      ],
    }),
  ) as { code?: string; issues?: Array<{ code: string }> };
  t.is(err.code, 'CG_ERR_POLICY_INVALID');
  t.is(err.issues?.[0]?.code, 'CG_ERR_POLICY_DUPLICATE');
});

test('a continuous-validation platform policy (gkePolicy) is named as such, not as a missing default rule', (t) => {
  // The shape of Binary Authorization's CV platform policy example (checkSets with a trusted-directory check).
  const platformPolicy = [
    'gkePolicy:',
    '  checkSets:',
    '  - checks:',
    '    - trustedDirectoryCheck:',
    '        trustedDirPatterns:',
    '        - gcr.io/my-project/trusted-images/',
    '      displayName: Trusted directory check',
    '    displayName: Default check set',
    '',
  ].join('\n');
  const err = t.throws(() => loadPolicy({ policy: { source: 'platform.yaml', text: platformPolicy } }), {
    instanceOf: PolicyLoadError,
  });
  t.deepEqual(
    err?.issues.map((i) => [i.path, i.code]),
    [['gkePolicy', 'CG_ERR_POLICY_KIND_UNSUPPORTED']],
  );
  t.regex(err?.message ?? '', /continuous-validation platform policy/);
  t.notRegex(err?.message ?? '', /defaultAdmissionRule: CG_ERR_POLICY_REQUIRED/);
});
