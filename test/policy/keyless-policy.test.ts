import test from 'ava';
import { decideWithAttestations, planDecision } from '../../src/policy/evaluate.js';
import { PolicyLoadError } from '../../src/policy/errors.js';
import { loadPolicy } from '../../src/policy/load-policy.js';
import { loadPolicyFiles } from '../../src/policy-files/load-policy-files.js';
import { encodeDssePae } from '../../src/verify/dsse.js';
import { bundleFromJSON } from '@sigstore/bundle';
import { PUBLIC_GOOD_SOURCE } from '../../src/verify/keyless/public-good.js';
import { createSigstoreDeployment, GITHUB_ISSUER } from '../helpers/sigstore-deployment.js';
import { digestOf } from '../verify/fixtures.js';

const WORKFLOW = 'https://github.com/acme/shop/.github/workflows/release.yml@refs/tags/v1.2.3';

function policyText(attestor: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    defaultAdmissionRule: {
      evaluationMode: 'REQUIRE_ATTESTATION',
      enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      requireAttestationsBy: ['ci'],
    },
    attestors: [{ name: 'ci', ...attestor }],
    ...extra,
  });
}
const load = (text: string) => loadPolicy({ policy: { source: 'p.json', text } });
const codes = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (err) {
    if (err instanceof PolicyLoadError) return err.issues.map((i) => `${i.code} ${i.path}`);
    throw err;
  }
  return [];
};

test('deploy/examples/keyless-k8s-system-images.yaml loads with the built-in public-good root', async (t) => {
  const policy = await loadPolicyFiles({ policyPath: 'deploy/examples/keyless-k8s-system-images.yaml' });
  const k8s = policy.attestors.get('kubernetes-release');
  t.is(k8s?.keyless?.trust.source, PUBLIC_GOOD_SOURCE);
  t.deepEqual(k8s?.keys, []);
  t.is(
    k8s?.keyless?.identities[0]?.label,
    'https://accounts.google.com krel-trust@k8s-releng-prod.iam.gserviceaccount.com',
  );
});

test('a keyless attestor in a policy admits the CI identity and denies another', async (t) => {
  const dep = await createSigstoreDeployment();
  const policy = load(
    policyText({
      criguard: {
        keyless: {
          identities: [{ issuer: GITHUB_ISSUER, subjectRegExp: 'https://github\\.com/acme/shop/.+' }],
          trustedRoot: dep.trustedRoot,
        },
      },
    }),
  );
  const image = { name: 'registry.example/acme/shop', digest: digestOf('shop') };
  const plan = planDecision(policy, image, 'default');
  if (plan.kind !== 'needs-attestations') throw new Error('expected attestations');
  const record = async (subject: string) => {
    const bundle = bundleFromJSON(await dep.signDsse(image.digest, { subject, issuer: GITHUB_ISSUER }));
    if (bundle.content.$case !== 'dsseEnvelope') throw new Error('dsse');
    const env = bundle.content.dsseEnvelope;
    return { payload: encodeDssePae(env.payloadType, env.payload), signatures: [], sigstoreBundle: bundle };
  };
  t.like(await decideWithAttestations(policy, plan.rule, image, [await record(WORKFLOW)]), {
    decision: 'allow',
    reason: 'ATTESTATIONS_SATISFIED',
  });
  t.like(
    await decideWithAttestations(policy, plan.rule, image, [
      await record('https://github.com/evil/shop/.github/workflows/x.yml@refs/heads/main'),
    ]),
    { decision: 'deny', missing: [{ attestor: 'ci', reason: 'IDENTITY_MISMATCH' }] },
  );
});

const invalid: [string, Record<string, unknown>, string][] = [
  [
    'keyless_and_keys_together_fail',
    {
      userOwnedGrafeasNote: { publicKeys: [] },
      criguard: { keyless: { identities: [{ issuer: 'i', subject: 's' }] } },
    },
    'attestors[0]',
  ],
  ['neither_keys_nor_keyless_fail', {}, 'CG_ERR_POLICY_REQUIRED attestors[0].userOwnedGrafeasNote'],
  ['keyless_without_identities_fail', { criguard: { keyless: { identities: [] } } }, 'CG_ERR_POLICY_EMPTY'],
  [
    'keyless_subject_and_regexp_fail',
    { criguard: { keyless: { identities: [{ issuer: 'i', subject: 's', subjectRegExp: 's' }] } } },
    'CG_ERR_POLICY_VALUE',
  ],
  [
    'keyless_bad_regexp_fail',
    { criguard: { keyless: { identities: [{ issuer: 'i', subjectRegExp: '(' }] } } },
    'CG_ERR_POLICY_VALUE',
  ],
  [
    'keyless_unknown_github_field_fail',
    {
      criguard: { keyless: { identities: [{ issuer: 'i', subject: 's', github: { workflowBranch: 'x' } }] } },
    },
    'CG_ERR_POLICY_UNKNOWN_FIELD',
  ],
  [
    'keyless_bad_trusted_root_fail',
    {
      criguard: { keyless: { identities: [{ issuer: 'i', subject: 's' }], trustedRoot: { mediaType: 'x' } } },
    },
    'CG_ERR_POLICY_VALUE',
  ],
  [
    'keyless_zero_timestamps_fail',
    { criguard: { keyless: { identities: [{ issuer: 'i', subject: 's' }], thresholds: { timestamp: 0 } } } },
    'CG_ERR_POLICY',
  ],
  [
    'keyless_threshold_over_identities_fail',
    { criguard: { threshold: 2, keyless: { identities: [{ issuer: 'i', subject: 's' }] } } },
    'CG_ERR_POLICY_VALUE',
  ],
];
for (const [name, attestor, expected] of invalid) {
  test(name, (t) => {
    const found = codes(() => load(policyText(attestor)));
    t.true(
      found.some((c) => c.includes(expected)),
      found.join('; '),
    );
  });
}

test('the policy revision covers the built-in root only for policies that use it', (t) => {
  const keyless = load(
    policyText({ criguard: { keyless: { identities: [{ issuer: 'i', subject: 's' }] } } }),
  );
  t.is(keyless.attestors.get('ci')?.keyless?.trust.source, PUBLIC_GOOD_SOURCE);
  const other = load(policyText({ criguard: { keyless: { identities: [{ issuer: 'i', subject: 't' }] } } }));
  t.not(keyless.revision, other.revision);
});
