/** Fields accepted but without effect on the node are reported with their path (policyWarnings). */
import test from 'ava';
import { loadPolicy } from '../../src/policy/load-policy.js';
import { loadPolicyFiles } from '../../src/policy-files/load-policy-files.js';
import publicGood from '../../src/verify/keyless/public-good-trusted-root.json' with { type: 'json' };

const ENFORCED = 'ENFORCED_BLOCK_AND_AUDIT_LOG';
const KEY = {
  comment: 'ci',
  pkixPublicKey: {
    publicKeyPem:
      '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEiLCjCOY3d3ge+NvGZPZ5jVUiNQn/\nPP+qlWSZnGcoBTsTD0z9dJObF+wA7RmM1dNWJgL4Hg0FMv/qjt7cPOaOFg==\n-----END PUBLIC KEY-----\n',
    signatureAlgorithm: 'ECDSA_P256_SHA256',
  },
};

function warnings(
  doc: Record<string, unknown>,
  cluster?: string,
  attestorFiles: { source: string; text: string }[] = [],
) {
  return loadPolicy(
    { policy: { source: 'p.yaml', text: JSON.stringify(doc) }, attestorFiles },
    { cluster },
  ).warnings.map((w) => `${w.source}: ${w.path}`);
}

test('a plain policy whose every field acts has no warnings', (t) => {
  t.deepEqual(
    warnings(
      {
        name: 'projects/p/policy',
        description: 'd',
        etag: 'x',
        updateTime: '2026-01-01T00:00:00Z',
        globalPolicyEvaluationMode: 'ENABLE',
        defaultAdmissionRule: {
          evaluationMode: 'REQUIRE_ATTESTATION',
          enforcementMode: ENFORCED,
          requireAttestationsBy: ['ci'],
          criguard: { bindDockerReference: true },
        },
        clusterAdmissionRules: {
          'us-east1-a.prod': { evaluationMode: 'ALWAYS_DENY', enforcementMode: ENFORCED },
        },
        attestors: [{ name: 'ci', userOwnedGrafeasNote: { publicKeys: [KEY] } }],
      },
      'us-east1-a.prod',
    ),
    [],
  );
});

test('each field without effect is reported once, with its file and path', (t) => {
  const got = warnings(
    {
      defaultAdmissionRule: {
        evaluationMode: 'ALWAYS_DENY',
        enforcementMode: ENFORCED,
        criguard: { bindDockerReference: true },
      },
      kubernetesNamespaceAdmissionRules: {
        dev: { evaluationMode: 'ALWAYS_ALLOW', enforcementMode: 'DRYRUN_AUDIT_LOG_ONLY' },
      },
      clusterAdmissionRules: {
        'us-east1-a.prod': { evaluationMode: 'ALWAYS_DENY', enforcementMode: ENFORCED },
      },
      attestors: [
        {
          name: 'unused',
          userOwnedGrafeasNote: {
            noteReference: 'projects/p/notes/n',
            delegationServiceAccountEmail: 'sa@p.iam.gserviceaccount.com',
            publicKeys: [KEY],
          },
        },
      ],
      criguard: { trustedRoot: publicGood },
    },
    undefined,
  );
  t.deepEqual(got, [
    'p.yaml: clusterAdmissionRules',
    'p.yaml: defaultAdmissionRule.criguard.bindDockerReference',
    'p.yaml: kubernetesNamespaceAdmissionRules.dev.enforcementMode',
    'p.yaml: attestors[0].name',
    'p.yaml: attestors[0].userOwnedGrafeasNote.noteReference',
    'p.yaml: attestors[0].userOwnedGrafeasNote.delegationServiceAccountEmail',
    'p.yaml: criguard.trustedRoot',
  ]);
});

test('cluster rules for other clusters only: one warning naming this node’s cluster', (t) => {
  const policy = loadPolicy(
    {
      policy: {
        source: 'p.yaml',
        text: JSON.stringify({
          defaultAdmissionRule: { evaluationMode: 'ALWAYS_DENY', enforcementMode: ENFORCED },
          clusterAdmissionRules: {
            'us-east1-a.prod': { evaluationMode: 'ALWAYS_DENY', enforcementMode: ENFORCED },
          },
        }),
      },
    },
    { cluster: 'europe-west1-b.stage' },
  );
  t.is(policy.warnings.length, 1);
  t.regex(policy.warnings[0]!.message, /europe-west1-b\.stage/);
});

test('an attestor file’s warnings name that file', (t) => {
  const got = warnings(
    { defaultAdmissionRule: { evaluationMode: 'ALWAYS_DENY', enforcementMode: ENFORCED } },
    undefined,
    [
      {
        source: 'attestors/a.yaml',
        text: JSON.stringify({ name: 'a', userOwnedGrafeasNote: { publicKeys: [KEY] } }),
      },
    ],
  );
  t.deepEqual(got, ['attestors/a.yaml: name']);
});

test('the GKE export example: its note references are reported, nothing else', async (t) => {
  const policy = await loadPolicyFiles({
    policyPath: 'deploy/examples/gke-export-policy.yaml',
    attestorsDir: 'deploy/examples/attestors',
    cluster: 'us-central1-a.prod-cluster',
  });
  t.true(policy.warnings.some((w) => w.path.endsWith('noteReference')));
  for (const w of policy.warnings)
    t.regex(w.path, /noteReference|delegationServiceAccountEmail|name$/, `${w.path}: ${w.message}`);
});
