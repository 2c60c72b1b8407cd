import test from 'ava';
import { PolicyEvaluationError } from '../../src/policy/errors.js';
import { decideFromOutcomes, evaluatePolicy, planDecision, selectRule } from '../../src/policy/evaluate.js';
import type { AttestationRecord } from '../../src/verify/attestation.js';
import { attestorDoc, digestOf, makeKey, payloadFor, rule, signWith } from '../verify/fixtures.js';
import type { TestKey } from '../verify/fixtures.js';
import { policyFrom } from './policy-fixtures.js';
import { denyMessage } from '../../src/admission/deny-message.js';

const built = makeKey('ECDSA_P256_SHA256');
const scanned = makeKey('ED25519');
const NAME = 'gcr.io/org/app';
const D = digestOf('app');
const image = { name: NAME, digest: D };

function attest(key: TestKey, keyId: string | undefined, payload = payloadFor(NAME, D)): AttestationRecord {
  return { payload, signatures: [{ publicKeyId: keyId, signature: signWith(key, payload) }] };
}

const doc = () => ({
  defaultAdmissionRule: rule('REQUIRE_ATTESTATION', ['built']),
  clusterAdmissionRules: { 'europe-west1.edge': rule('ALWAYS_DENY') },
  kubernetesNamespaceAdmissionRules: {
    dev: rule('ALWAYS_ALLOW'),
    prod: rule('REQUIRE_ATTESTATION', ['built', 'scanned']),
    canary: rule('REQUIRE_ATTESTATION', ['built', 'scanned'], 'DRYRUN_AUDIT_LOG_ONLY'),
  },
  admissionWhitelistPatterns: [
    { namePattern: 'gcr.io/trusted/*' },
    { namePattern: `gcr.io/org/pinned@${D}` },
  ],
  criguard: { nodeCriticalImages: [`registry.k8s.io/kube-proxy@${D}`] },
  attestors: [
    attestorDoc('built', [{ id: 'b1', key: built }]),
    attestorDoc('projects/p/attestors/scanned', [{ id: 's1', key: scanned }]),
  ],
});

test('rule precedence: namespace over cluster over default', async (t) => {
  const withCluster = policyFrom(doc(), { cluster: 'europe-west1.edge' });
  t.is(selectRule(withCluster, 'dev').kind, 'namespace');
  t.is(selectRule(withCluster, 'other').kind, 'cluster');
  t.is(selectRule(withCluster, undefined).kind, 'cluster');
  const noCluster = policyFrom(doc());
  t.is(selectRule(noCluster, 'other').kind, 'default');
  t.is(policyFrom(doc(), { cluster: 'us-east1.other' }).clusterRule, undefined);
});

test('allowlist and node-critical pins decide before any rule, without attestations', async (t) => {
  const policy = policyFrom(doc(), { cluster: 'europe-west1.edge' });
  const a = planDecision(policy, { name: 'gcr.io/trusted/x', digest: D }, 'other');
  t.is(a.kind === 'decided' ? a.verdict.reason : undefined, 'ALLOWLISTED');
  const pinned = await evaluatePolicy(policy, { name: 'gcr.io/org/pinned', digest: D }, 'other', []);
  t.like(pinned, { decision: 'allow', reason: 'ALLOWLISTED', rule: { kind: 'allowlist' } });
  const critical = await evaluatePolicy(
    policy,
    { name: 'registry.k8s.io/kube-proxy', digest: D },
    'other',
    [],
  );
  t.like(critical, { decision: 'allow', reason: 'NODE_CRITICAL', rule: { kind: 'node-critical' } });
  const otherDigest = await evaluatePolicy(
    policy,
    { name: 'registry.k8s.io/kube-proxy', digest: digestOf('x') },
    'other',
    [],
  );
  t.like(otherDigest, {
    decision: 'deny',
    reason: 'ALWAYS_DENY',
    rule: { kind: 'cluster', key: 'europe-west1.edge' },
  });
});

test('ALWAYS_ALLOW and ALWAYS_DENY are decided by the plan', async (t) => {
  const policy = policyFrom(doc(), { cluster: 'europe-west1.edge' });
  t.like(planDecision(policy, image, 'dev'), {
    kind: 'decided',
    verdict: { decision: 'allow', reason: 'ALWAYS_ALLOW' },
  });
  t.like(planDecision(policy, image, 'x'), {
    kind: 'decided',
    verdict: { decision: 'deny', reason: 'ALWAYS_DENY' },
  });
  const plan = planDecision(policyFrom(doc()), image, 'prod');
  t.is(plan.kind, 'needs-attestations');
  t.deepEqual(plan.kind === 'needs-attestations' ? plan.rule.attestors.map((a) => a.name) : [], [
    'built',
    'projects/p/attestors/scanned',
  ]);
});

test('every required attestor must be satisfied', async (t) => {
  const policy = policyFrom(doc());
  const both = await evaluatePolicy(policy, image, 'prod', [attest(built, 'b1'), attest(scanned, 's1')]);
  t.like(both, {
    decision: 'allow',
    wouldBe: 'allow',
    reason: 'ATTESTATIONS_SATISFIED',
    rule: { kind: 'namespace', key: 'prod' },
  });
  t.deepEqual(both.satisfied, [
    { attestor: 'built', keyIds: ['b1'] },
    { attestor: 'projects/p/attestors/scanned', keyIds: ['s1'] },
  ]);
});

test('two_attestors_one_evidence_fail', async (t) => {
  const v = await evaluatePolicy(policyFrom(doc()), image, 'prod', [attest(built, 'b1')]);
  t.like(v, { decision: 'deny', reason: 'ATTESTOR_MISSING', dryRun: false });
  // The other attestor's signature (naming its own key id) is not "an unknown key" for this one: it has
  // simply not attested (issue 11's sibling).
  t.deepEqual(v.missing, [{ attestor: 'projects/p/attestors/scanned', reason: 'NO_ATTESTATION' }]);
});

test('issue 11: one attestor unattested, the other signer’s attestation without publicKeyId: NO_ATTESTATION in the message', async (t) => {
  const v = await evaluatePolicy(policyFrom(doc()), image, 'prod', [attest(built, undefined)]);
  t.deepEqual(v.satisfied, [{ attestor: 'built', keyIds: ['b1'] }]);
  t.deepEqual(v.missing, [{ attestor: 'projects/p/attestors/scanned', reason: 'NO_ATTESTATION' }]);
  const message = denyMessage(v, image);
  t.regex(message, /lacks a valid attestation by projects\/p\/attestors\/scanned \(NO_ATTESTATION\)/);
  t.notRegex(message, /SIGNATURE_INVALID/);
});

test('dry run admits and carries the would-be deny', async (t) => {
  const v = await evaluatePolicy(policyFrom(doc()), image, 'canary', [attest(built, 'b1')]);
  t.like(v, {
    decision: 'allow',
    wouldBe: 'deny',
    dryRun: true,
    reason: 'ATTESTOR_MISSING',
    enforcementMode: 'DRYRUN_AUDIT_LOG_ONLY',
  });
});

test('thresholds count distinct keys, never signatures', async (t) => {
  const second = makeKey('ECDSA_P256_SHA256');
  const policy = policyFrom({
    defaultAdmissionRule: rule('REQUIRE_ATTESTATION', ['two']),
    attestors: [
      attestorDoc(
        'two',
        [
          { id: 'a', key: built },
          { id: 'b', key: second },
        ],
        2,
      ),
    ],
  });
  const same = await evaluatePolicy(policy, image, 'x', [
    attest(built, 'a'),
    attest(built, 'a'),
    attest(built, undefined),
  ]);
  t.like(same, { decision: 'deny' });
  t.deepEqual(same.missing, [{ attestor: 'two', reason: 'THRESHOLD_NOT_MET' }]);
  const distinct = await evaluatePolicy(policy, image, 'x', [attest(built, 'a'), attest(second, 'b')]);
  t.like(distinct, { decision: 'allow' });
  t.deepEqual(distinct.satisfied[0]?.keyIds, ['a', 'b']);
});

test('key rotation: both keys verify, then the removed key denies', async (t) => {
  const oldKey = makeKey('ECDSA_P256_SHA256');
  const newKey = makeKey('ECDSA_P256_SHA256');
  const withBoth = policyFrom({
    defaultAdmissionRule: rule('REQUIRE_ATTESTATION', ['rot']),
    attestors: [
      attestorDoc('rot', [
        { id: 'old', key: oldKey },
        { id: 'new', key: newKey },
      ]),
    ],
  });
  const byOld = attest(oldKey, 'old');
  const byNew = attest(newKey, 'new');
  t.is((await evaluatePolicy(withBoth, image, 'x', [byOld])).decision, 'allow');
  t.is((await evaluatePolicy(withBoth, image, 'x', [byNew])).decision, 'allow');
  const rotated = policyFrom({
    defaultAdmissionRule: rule('REQUIRE_ATTESTATION', ['rot']),
    attestors: [attestorDoc('rot', [{ id: 'new', key: newKey }])],
  });
  t.not(rotated.revision, withBoth.revision);
  t.like(await evaluatePolicy(rotated, image, 'x', [byOld]), {
    decision: 'deny',
    missing: [{ reason: 'KEY_UNKNOWN' }],
  });
  const unnamed = { payload: byOld.payload, signatures: [{ signature: byOld.signatures[0]!.signature }] };
  t.like(await evaluatePolicy(rotated, image, 'x', [unnamed]), {
    decision: 'deny',
    missing: [{ reason: 'SIGNATURE_INVALID' }],
  });
  t.is((await evaluatePolicy(rotated, image, 'x', [byNew])).decision, 'allow');
});

test('the docker-reference binding is opt-in per policy or rule', async (t) => {
  const elsewhere = attest(built, 'b1', payloadFor('gcr.io/other/app', D));
  const loose = policyFrom(doc());
  t.is((await evaluatePolicy(loose, image, 'other', [elsewhere])).decision, 'allow');
  const bound = policyFrom({ ...doc(), criguard: { bindDockerReference: true } });
  t.like(await evaluatePolicy(bound, image, 'other', [elsewhere]), {
    decision: 'deny',
    missing: [{ reason: 'REFERENCE_MISMATCH' }],
  });
  t.is(
    (await evaluatePolicy(bound, image, 'other', [attest(built, 'b1', payloadFor('gcr.io/org/app:v1', D))]))
      .decision,
    'allow',
  );
  const perRule = policyFrom({
    ...doc(),
    defaultAdmissionRule: {
      ...rule('REQUIRE_ATTESTATION', ['built']),
      criguard: { bindDockerReference: true, onUndecided: 'ALLOW', onUndecidedRegistries: ['gcr.io'] },
    },
  });
  t.is((await evaluatePolicy(perRule, image, 'other', [elsewhere])).decision, 'deny');
  t.is(perRule.defaultRule.onUndecided, 'ALLOW');
});

test('outcomes that omit a required attestor count as missing', async (t) => {
  const policy = policyFrom(doc());
  const rule = selectRule(policy, 'prod');
  const v = decideFromOutcomes(policy, rule, [
    { attestor: 'built', satisfied: true, keyIds: ['b1'], reason: 'VERIFIED' },
  ]);
  t.like(v, {
    decision: 'deny',
    missing: [{ attestor: 'projects/p/attestors/scanned', reason: 'NO_ATTESTATION' }],
  });
});

const badIdentities: [string, { name: string; digest: string }][] = [
  ['tag_as_digest_fail', { name: NAME, digest: 'latest' }],
  ['short_digest_fail', { name: NAME, digest: 'sha256:abc' }],
  ['empty_name_fail', { name: '', digest: D }],
];
for (const [name, identity] of badIdentities) {
  test(name, async (t) => {
    const err = await t.throwsAsync(async () => evaluatePolicy(policyFrom(doc()), identity, 'x', []), {
      instanceOf: PolicyEvaluationError,
    });
    t.is(err?.code, 'CG_ERR_IMAGE_IDENTITY_INVALID');
  });
}

test('verdicts are frozen values', async (t) => {
  const v = await evaluatePolicy(policyFrom(doc()), image, 'prod', []);
  t.true(Object.isFrozen(v) && Object.isFrozen(v.missing) && Object.isFrozen(v.rule));
});
