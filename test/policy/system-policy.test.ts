/**
 * The built-in system policy (globalPolicyEvaluationMode: ENABLE, ADR 0017): Google's "block (almost)
 * all" policy keeps the sandbox image and release-signed Kubernetes images, and nothing else; it never
 * denies; it is off with DISABLE; its revision covers the node facts.
 */
import test from 'ava';
import { bundleFromJSON } from '@sigstore/bundle';
import { decideWithAttestations, planDecision } from '../../src/policy/evaluate.js';
import { loadPolicy } from '../../src/policy/load-policy.js';
import { loadPolicyFiles } from '../../src/policy-files/load-policy-files.js';
import { SYSTEM_IMAGES, withSandboxImage } from '../../src/policy/system-policy.js';
import type { CompiledPolicy } from '../../src/policy/types.js';
import { encodeDssePae } from '../../src/verify/dsse.js';
import type { AttestationRecord } from '../../src/verify/attestation.js';
import { PUBLIC_GOOD_SOURCE } from '../../src/verify/keyless/public-good.js';
import { createSigstoreDeployment, type SigstoreDeployment } from '../helpers/sigstore-deployment.js';
import { digestOf } from '../verify/fixtures.js';

const KREL = 'krel-trust@k8s-releng-prod.iam.gserviceaccount.com';
const GOOGLE = 'https://accounts.google.com';
const PAUSE = 'registry.k8s.io/pause';

/** Google's "block (almost) all" example policy, plus what the test varies. */
function blockAll(extra: Record<string, unknown> = {}): CompiledPolicy {
  return loadPolicy({
    policy: {
      source: 'block-all.json',
      text: JSON.stringify({
        globalPolicyEvaluationMode: 'ENABLE',
        defaultAdmissionRule: {
          evaluationMode: 'ALWAYS_DENY',
          enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
        },
        ...extra,
      }),
    },
  });
}

async function keylessRecord(
  dep: SigstoreDeployment,
  digest: string,
  subject = KREL,
  issuer = GOOGLE,
): Promise<AttestationRecord> {
  const bundle = bundleFromJSON(await dep.signDsse(digest, { subject, issuer }));
  if (bundle.content.$case !== 'dsseEnvelope') throw new Error('dsse');
  const env = bundle.content.dsseEnvelope;
  return { payload: encodeDssePae(env.payloadType, env.payload), signatures: [], sigstoreBundle: bundle };
}

async function judge(
  policy: CompiledPolicy,
  image: { name: string; digest: string },
  records: AttestationRecord[],
  namespace = 'kube-system',
) {
  const plan = planDecision(policy, image, namespace);
  return plan.kind === 'decided' ? plan.verdict : decideWithAttestations(policy, plan.rule, image, records);
}

test('Google’s block-all example loads; system images are covered, verified against the shipped root', async (t) => {
  const policy = await loadPolicyFiles({ policyPath: 'deploy/examples/block-all-but-system.yaml' });
  t.is(policy.system?.attestor.keyless?.trust.source, PUBLIC_GOOD_SOURCE);
  t.is(policy.system?.attestor.keyless?.identities[0]?.label, `${GOOGLE} ${KREL}`);
  for (const name of ['registry.k8s.io/kube-proxy', 'registry.k8s.io/coredns/coredns', PAUSE]) {
    const plan = planDecision(policy, { name, digest: digestOf(name) }, 'kube-system');
    t.is(plan.kind, 'needs-attestations', name);
    if (plan.kind === 'needs-attestations') t.is(plan.rule.system?.pattern, name);
  }
  // Not a system image: decided by the user's rule without any fetch.
  const app = planDecision(policy, { name: 'docker.io/library/nginx', digest: digestOf('n') }, 'default');
  t.like(app, { kind: 'decided', verdict: { decision: 'deny', reason: 'ALWAYS_DENY' } });
  // Look-alikes are not covered: component boundaries, other registries.
  for (const name of [
    'registry.k8s.io/kube-proxy-evil',
    'registry.k8s.io/kube-proxy/x',
    'registry.k8s.io.evil.com/kube-proxy',
    'docker.io/kube-proxy',
  ]) {
    t.like(planDecision(policy, { name, digest: digestOf(name) }, 'kube-system'), { kind: 'decided' }, name);
  }
});

test('a release-signed system image is admitted (SYSTEM_POLICY); another identity or none falls to the rule', async (t) => {
  const dep = await createSigstoreDeployment();
  const policy = blockAll({ criguard: { trustedRoot: dep.trustedRoot } });
  const image = { name: 'registry.k8s.io/kube-proxy', digest: digestOf('kube-proxy v1.31') };
  t.like(await judge(policy, image, [await keylessRecord(dep, image.digest)]), {
    decision: 'allow',
    wouldBe: 'allow',
    reason: 'SYSTEM_POLICY',
    dryRun: false,
    rule: { kind: 'system', key: 'registry.k8s.io/kube-proxy' },
    satisfied: [{ attestor: 'system:kubernetes-release' }],
  });
  for (const records of [
    [],
    [await keylessRecord(dep, image.digest, 'someone@example.com')],
    [await keylessRecord(dep, image.digest, KREL, 'https://token.actions.githubusercontent.com')],
    // Signed, but for another digest.
    [await keylessRecord(dep, digestOf('another image'))],
  ]) {
    t.like(await judge(policy, image, records), { decision: 'deny', reason: 'ALWAYS_DENY' });
  }
  // A release signature admits only the images the system policy covers.
  const other = { name: 'registry.k8s.io/e2e-test-images/agnhost', digest: digestOf('agnhost') };
  t.like(await judge(policy, other, [await keylessRecord(dep, other.digest)]), {
    decision: 'deny',
    reason: 'ALWAYS_DENY',
  });
});

test('the shipped root does not trust a private deployment: a look-alike release signature is not enough', async (t) => {
  const dep = await createSigstoreDeployment();
  const policy = blockAll();
  const image = { name: 'registry.k8s.io/kube-proxy', digest: digestOf('kube-proxy forged') };
  t.like(await judge(policy, image, [await keylessRecord(dep, image.digest)]), {
    decision: 'deny',
    reason: 'ALWAYS_DENY',
  });
});

test('with DISABLE (or without the field) nothing changes: the system policy is off', async (t) => {
  const dep = await createSigstoreDeployment();
  for (const mode of ['DISABLE', undefined]) {
    const policy = loadPolicy({
      policy: {
        source: 'p.json',
        text: JSON.stringify({
          ...(mode === undefined ? {} : { globalPolicyEvaluationMode: mode }),
          defaultAdmissionRule: {
            evaluationMode: 'ALWAYS_DENY',
            enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
          },
          criguard: { trustedRoot: dep.trustedRoot },
        }),
      },
    });
    t.is(policy.system, undefined);
    const image = { name: 'registry.k8s.io/kube-proxy', digest: digestOf('kp') };
    t.like(await judge(policy, image, [await keylessRecord(dep, image.digest)]), {
      decision: 'deny',
      reason: 'ALWAYS_DENY',
    });
  }
});

test('the sandbox image is admitted at the digests containerd holds for its configured reference only', (t) => {
  const base = blockAll();
  const held = digestOf('pause 3.10');
  const policy = withSandboxImage(base, {
    reference: 'registry.k8s.io/pause:3.10',
    repoDigests: [
      `${PAUSE}@${held}`,
      // Other names containerd may list are not the sandbox image's; malformed entries are ignored.
      `docker.io/library/busybox@${digestOf('busybox')}`,
      'registry.k8s.io/pause@sha256:short',
    ],
  });
  t.not(policy.revision, base.revision);
  t.is(policy.baseRevision, base.revision);
  t.like(planDecision(policy, { name: PAUSE, digest: held }, 'default'), {
    kind: 'decided',
    verdict: { decision: 'allow', reason: 'SYSTEM_POLICY', rule: { kind: 'system', key: 'sandbox-image' } },
  });
  // Another digest of the pause repository still needs the release signature.
  t.is(
    planDecision(policy, { name: PAUSE, digest: digestOf('pause other') }, 'default').kind,
    'needs-attestations',
  );
  t.like(
    planDecision(policy, { name: 'docker.io/library/busybox', digest: digestOf('busybox') }, 'default'),
    {
      verdict: { decision: 'deny' },
    },
  );
  // Same facts: the same policy object (and revision); new facts: a new revision.
  t.is(
    withSandboxImage(policy, { reference: 'registry.k8s.io/pause:3.10', repoDigests: [`${PAUSE}@${held}`] }),
    policy,
  );
  const moved = withSandboxImage(policy, {
    reference: 'registry.k8s.io/pause:3.10',
    repoDigests: [`${PAUSE}@${digestOf('pause 3.11')}`],
  });
  t.not(moved.revision, policy.revision);
  t.is(moved.baseRevision, base.revision);
  t.is(planDecision(moved, { name: PAUSE, digest: held }, 'default').kind, 'needs-attestations');
  // Without ENABLE the facts change nothing.
  const off = loadPolicy({
    policy: {
      source: 'p.json',
      text: JSON.stringify({
        defaultAdmissionRule: {
          evaluationMode: 'ALWAYS_DENY',
          enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
        },
      }),
    },
  });
  t.is(
    withSandboxImage(off, { reference: 'registry.k8s.io/pause:3.10', repoDigests: [`${PAUSE}@${held}`] }),
    off,
  );
});

test('system admission is not dry run, and a dry-run rule records the would-be deny of other images only', async (t) => {
  const dep = await createSigstoreDeployment();
  const policy = loadPolicy({
    policy: {
      source: 'p.json',
      text: JSON.stringify({
        globalPolicyEvaluationMode: 'ENABLE',
        defaultAdmissionRule: { evaluationMode: 'ALWAYS_DENY', enforcementMode: 'DRYRUN_AUDIT_LOG_ONLY' },
        criguard: { trustedRoot: dep.trustedRoot },
      }),
    },
  });
  const kp = { name: 'registry.k8s.io/kube-proxy', digest: digestOf('kp') };
  t.like(await judge(policy, kp, [await keylessRecord(dep, kp.digest)]), {
    decision: 'allow',
    wouldBe: 'allow',
    dryRun: false,
    reason: 'SYSTEM_POLICY',
  });
  t.like(await judge(policy, kp, []), {
    decision: 'allow',
    wouldBe: 'deny',
    dryRun: true,
    reason: 'ALWAYS_DENY',
  });
});

test('under a REQUIRE_ATTESTATION rule, a system image is admitted by either the release signature or the rule', async (t) => {
  const dep = await createSigstoreDeployment();
  const policy = loadPolicy({
    policy: {
      source: 'p.json',
      text: JSON.stringify({
        globalPolicyEvaluationMode: 'ENABLE',
        defaultAdmissionRule: {
          evaluationMode: 'REQUIRE_ATTESTATION',
          enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
          requireAttestationsBy: ['ci'],
        },
        attestors: [
          {
            name: 'ci',
            criguard: { keyless: { identities: [{ issuer: GOOGLE, subject: 'ci@example.com' }] } },
          },
        ],
        criguard: { trustedRoot: dep.trustedRoot },
      }),
    },
  });
  const image = { name: 'registry.k8s.io/coredns/coredns', digest: digestOf('coredns') };
  t.like(await judge(policy, image, [await keylessRecord(dep, image.digest)]), { reason: 'SYSTEM_POLICY' });
  t.like(await judge(policy, image, [await keylessRecord(dep, image.digest, 'ci@example.com')]), {
    decision: 'allow',
    reason: 'ATTESTATIONS_SATISFIED',
    rule: { kind: 'default' },
  });
  // Neither: the rule's own missing attestor is reported (the system alternative is not a requirement).
  t.like(await judge(policy, image, []), {
    decision: 'deny',
    reason: 'ATTESTOR_MISSING',
    missing: [{ attestor: 'ci', reason: 'NO_ATTESTATION' }],
  });
});

test('the built-in list: registry.k8s.io only, exact names, each with a role', (t) => {
  t.true(SYSTEM_IMAGES.length >= 4);
  for (const image of SYSTEM_IMAGES) {
    t.regex(image.namePattern, /^registry\.k8s\.io\/[a-z0-9/-]+$/);
    t.true(image.role.length > 0);
  }
});
