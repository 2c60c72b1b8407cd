import test from 'ava';
import { evaluatePolicy } from '../../src/policy/evaluate.js';
import { PolicyLoadError } from '../../src/policy/errors.js';
import type { AttestationRecord } from '../../src/verify/attestation.js';
import { attestorDoc, digestOf, makeKey, payloadFor, rule, signWith } from '../verify/fixtures.js';
import type { TestKey } from '../verify/fixtures.js';
import { policyFrom } from './policy-fixtures.js';

const ci = makeKey('ECDSA_P256_SHA256');
const vendor = makeKey('ECDSA_P256_SHA256');
const VENDOR_IMG = { name: 'vendor.example/db/postgres', digest: digestOf('pg') };
const TEAM_IMG = { name: 'registry.example/team/app', digest: digestOf('app') };
const LISTED_IMG = { name: 'vendor.example/tools/debug', digest: digestOf('dbg') };

function signed(key: TestKey, id: string, img: { name: string; digest: string }): AttestationRecord {
  const payload = payloadFor(img.name, img.digest);
  return { payload, signatures: [{ publicKeyId: id, signature: signWith(key, payload) }] };
}

/** Two publishers: CI signs everything the team ships; the vendor signs vendor.example/** too. */
const policy = policyFrom({
  defaultAdmissionRule: rule('REQUIRE_ATTESTATION', ['ci']),
  kubernetesNamespaceAdmissionRules: {
    'vendor-only': rule('ALWAYS_ALLOW'),
    locked: rule('ALWAYS_DENY'),
    trial: rule('REQUIRE_ATTESTATION', ['ci'], 'DRYRUN_AUDIT_LOG_ONLY'),
  },
  admissionWhitelistPatterns: [{ namePattern: 'vendor.example/tools/*' }],
  attestors: [attestorDoc('ci', [{ id: 'ci', key: ci }]), attestorDoc('vendor', [{ id: 'v', key: vendor }])],
  criguard: { imageRules: [{ namePattern: 'vendor.example/**', requireAttestationsBy: ['vendor'] }] },
});

test('image_rule_adds_requirements: a vendor image needs the rule attestors and the vendor', async (t) => {
  const both = [signed(ci, 'ci', VENDOR_IMG), signed(vendor, 'v', VENDOR_IMG)];
  const ok = await evaluatePolicy(policy, VENDOR_IMG, 'default', both);
  t.like(ok, { decision: 'allow', reason: 'ATTESTATIONS_SATISFIED' });
  t.deepEqual(ok.rule, { kind: 'default', key: undefined, imageRules: ['vendor.example/**'] });
  const vendorOnly = await evaluatePolicy(policy, VENDOR_IMG, 'default', [signed(vendor, 'v', VENDOR_IMG)]);
  t.like(vendorOnly, { decision: 'deny', missing: [{ attestor: 'ci', reason: 'NO_ATTESTATION' }] });
  const ciOnly = await evaluatePolicy(policy, VENDOR_IMG, 'default', [signed(ci, 'ci', VENDOR_IMG)]);
  t.like(ciOnly, { decision: 'deny', missing: [{ attestor: 'vendor', reason: 'NO_ATTESTATION' }] });
});

test('images no image rule matches keep the rule alone', async (t) => {
  const v = await evaluatePolicy(policy, TEAM_IMG, 'default', [signed(ci, 'ci', TEAM_IMG)]);
  t.like(v, { decision: 'allow' });
  t.deepEqual(v.rule, { kind: 'default', key: undefined });
});

test('image_rule_under_always_allow_fail: an ALWAYS_ALLOW rule does not waive an image rule', async (t) => {
  t.like(await evaluatePolicy(policy, VENDOR_IMG, 'vendor-only', []), {
    decision: 'deny',
    missing: [{ attestor: 'vendor' }],
  });
  t.like(await evaluatePolicy(policy, VENDOR_IMG, 'vendor-only', [signed(vendor, 'v', VENDOR_IMG)]), {
    decision: 'allow',
  });
  t.like(await evaluatePolicy(policy, TEAM_IMG, 'vendor-only', []), {
    decision: 'allow',
    reason: 'ALWAYS_ALLOW',
  });
});

test('ALWAYS_DENY stays a deny; allowlist and node-critical pins decide before image rules; dry run applies', async (t) => {
  const both = [signed(ci, 'ci', VENDOR_IMG), signed(vendor, 'v', VENDOR_IMG)];
  t.like(await evaluatePolicy(policy, VENDOR_IMG, 'locked', both), {
    decision: 'deny',
    reason: 'ALWAYS_DENY',
  });
  t.like(await evaluatePolicy(policy, LISTED_IMG, 'default', []), {
    decision: 'allow',
    reason: 'ALLOWLISTED',
  });
  t.like(await evaluatePolicy(policy, VENDOR_IMG, 'trial', [signed(ci, 'ci', VENDOR_IMG)]), {
    decision: 'allow',
    wouldBe: 'deny',
    dryRun: true,
    missing: [{ attestor: 'vendor' }],
  });
});

test('image rules: unknown attestor, bad pattern and tag patterns are load errors', (t) => {
  const bad = (imageRules: object[]) => {
    const err = t.throws(
      () =>
        policyFrom({
          defaultAdmissionRule: rule('ALWAYS_ALLOW'),
          attestors: [attestorDoc('ci', [{ id: 'ci', key: ci }])],
          criguard: { imageRules },
        }),
      { instanceOf: PolicyLoadError },
    );
    return err?.issues.map((i) => `${i.code} ${i.path}`) ?? [];
  };
  t.true(
    bad([{ namePattern: 'vendor.example/**', requireAttestationsBy: ['nobody'] }]).some((c) =>
      c.startsWith('CG_ERR_POLICY_ATTESTOR_UNKNOWN criguard.imageRules[0]'),
    ),
  );
  t.true(
    bad([{ namePattern: '**', requireAttestationsBy: ['ci'] }]).some((c) =>
      c.startsWith('CG_ERR_POLICY_PATTERN_INVALID'),
    ),
  );
  t.true(
    bad([{ namePattern: 'vendor.example/app:latest', requireAttestationsBy: ['ci'] }]).some((c) =>
      c.startsWith('CG_ERR_POLICY_PATTERN_INVALID'),
    ),
  );
  t.true(
    bad([{ namePattern: 'vendor.example/**', requireAttestationsBy: [] }]).some((c) =>
      c.startsWith('CG_ERR_POLICY_EMPTY'),
    ),
  );
});

test('Binary Authorization documents without imageRules load and evaluate unchanged', async (t) => {
  const plain = policyFrom({
    defaultAdmissionRule: rule('REQUIRE_ATTESTATION', ['ci']),
    attestors: [attestorDoc('ci', [{ id: 'ci', key: ci }])],
  });
  t.deepEqual(plain.imageRules, []);
  t.like(await evaluatePolicy(plain, VENDOR_IMG, 'default', [signed(ci, 'ci', VENDOR_IMG)]), {
    decision: 'allow',
  });
});
