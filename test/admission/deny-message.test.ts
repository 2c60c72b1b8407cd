/** denyMessage: the text the kubelet shows after `SignatureValidationFailed: ` for a deny. */
import test from 'ava';
import { denyMessage } from '../../src/admission/deny-message.js';
import type { Verdict } from '../../src/policy/verdict.js';

const digest = `sha256:${'ab'.repeat(32)}`;
const deny: Verdict = {
  decision: 'deny',
  wouldBe: 'deny',
  reason: 'ALWAYS_DENY',
  dryRun: false,
  enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
  rule: { kind: 'namespace', key: 'prod' },
  satisfied: [],
  missing: [],
  policyRevision: `sha256:${'0123456789abcdef'.repeat(4)}`,
};

test('ALWAYS_DENY names the image at its digest, the rule and a short policy revision', (t) => {
  t.is(
    denyMessage(deny, { name: 'registry.example/app', digest }),
    `registry.example/app@${digest} is denied: the namespace rule "prod" allows no images (policy 0123456789ab)`,
  );
});

test('ATTESTOR_MISSING lists each missing attestor with its reason; the default rule has no key', (t) => {
  const verdict: Verdict = {
    ...deny,
    reason: 'ATTESTOR_MISSING',
    rule: { kind: 'default', key: undefined },
    missing: [
      { attestor: 'projects/p/attestors/build', reason: 'NO_ATTESTATION' },
      { attestor: 'projects/p/attestors/qa', reason: 'SIGNATURE_INVALID' },
    ],
  };
  t.is(
    denyMessage(verdict, { name: 'registry.example/app', digest: '' }),
    'registry.example/app lacks a valid attestation by projects/p/attestors/build (NO_ATTESTATION), ' +
      'projects/p/attestors/qa (SIGNATURE_INVALID), required by the default rule (policy 0123456789ab)',
  );
});

test('without an image identity the message says "image"; an allow reason is still worded', (t) => {
  t.is(
    denyMessage({ ...deny, reason: 'ALWAYS_ALLOW' }, undefined),
    'image is not admitted by the namespace rule "prod" (ALWAYS_ALLOW)',
  );
});
