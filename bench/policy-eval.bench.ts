/**
 * Policy evaluation cost without signature checks: 1,000 namespace rules and 1,000 allowlist patterns.
 * Run: npm run bench:policy. Prints µs per decision; the budget is 20 µs. Measured twice in the same run:
 * the policy as is (baseline), and with `globalPolicyEvaluationMode: ENABLE` and a sandbox image (the
 * system policy, ADR 0017), over the same images plus two system images.
 */
import { generateKeyPairSync } from 'node:crypto';
import { evaluatePolicy } from '../src/policy/evaluate.js';
import { loadPolicy } from '../src/policy/load-policy.js';
import { withSandboxImage } from '../src/policy/system-policy.js';
import type { CompiledPolicy } from '../src/policy/types.js';

const N = 1000;
const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .publicKey.export({ type: 'spki', format: 'pem' })
  .toString();
const rule = (i: number) =>
  i % 3 === 0
    ? { evaluationMode: 'ALWAYS_ALLOW', enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG' }
    : {
        evaluationMode: 'REQUIRE_ATTESTATION',
        enforcementMode: i % 3 === 1 ? 'ENFORCED_BLOCK_AND_AUDIT_LOG' : 'DRYRUN_AUDIT_LOG_ONLY',
        requireAttestationsBy: ['built'],
      };
const patterns = Array.from({ length: N }, (_, i) => {
  const kind = i % 4;
  if (kind === 0) return { namePattern: `gcr.io/team-${i}/*` };
  if (kind === 1) return { namePattern: `registry-${i}.example.com/**` };
  if (kind === 2) return { namePattern: `gcr.io/org/app-${i}` };
  return { namePattern: `gcr.io/pinned/app-${i}@sha256:${i.toString(16).padStart(64, '0')}` };
});
const policyOf = (extra: object): CompiledPolicy =>
  loadPolicy({
    policy: {
      source: 'bench',
      text: JSON.stringify({
        ...extra,
        defaultAdmissionRule: rule(1),
        kubernetesNamespaceAdmissionRules: Object.fromEntries(
          Array.from({ length: N }, (_, i) => [`ns-${i}`, rule(i)]),
        ),
        admissionWhitelistPatterns: patterns,
        attestors: [
          {
            name: 'built',
            userOwnedGrafeasNote: {
              publicKeys: [
                { id: 'k', pkixPublicKey: { publicKeyPem: pem, signatureAlgorithm: 'ECDSA_P256_SHA256' } },
              ],
            },
          },
        ],
      }),
    },
  });
const baseline = policyOf({});
const pause = `sha256:${'cd'.repeat(32)}`;
const enabled = withSandboxImage(policyOf({ globalPolicyEvaluationMode: 'ENABLE' }), {
  reference: 'registry.k8s.io/pause:3.10',
  repoDigests: [`registry.k8s.io/pause@${pause}`],
});

const digest = `sha256:${'ab'.repeat(32)}`;
const images = [
  { name: 'docker.io/library/nginx', digest },
  { name: 'gcr.io/team-400/svc', digest },
  { name: 'registry-501.example.com/a/b/c', digest },
  { name: 'gcr.io/org/app-999', digest },
  { name: 'gcr.io/team-4000/deep/er/path', digest },
  { name: 'gcr.io/pinned/app-3', digest: `sha256:${(3).toString(16).padStart(64, '0')}` },
  { name: 'registry.k8s.io/kube-proxy', digest },
  { name: 'registry.k8s.io/pause', digest: pause },
];
const namespaces = Array.from({ length: 64 }, (_, i) =>
  i % 8 === 7 ? 'unknown' : `ns-${(i * 37) % (N + 100)}`,
);

async function run(policy: CompiledPolicy, iterations: number): Promise<number> {
  let allowed = 0;
  for (let i = 0; i < iterations; i++) {
    const v = await evaluatePolicy(policy, images[i % images.length]!, namespaces[i % namespaces.length], []);
    if (v.decision === 'allow') allowed++;
  }
  return allowed;
}

const iterations = 500_000;
let worst = 0;
for (const [label, policy] of [
  ['baseline', baseline],
  ['system policy on', enabled],
] as const) {
  await run(policy, 50_000);
  const start = process.hrtime.bigint();
  const allowed = await run(policy, iterations);
  const micros = Number(process.hrtime.bigint() - start) / 1000 / iterations;
  worst = Math.max(worst, micros);
  console.log(
    `policy-eval (${label}): ${micros.toFixed(3)} µs/decision (${N} namespace rules, ${N} allowlist ` +
      `patterns, ${iterations} decisions, ${allowed} allowed, no signature checks; budget 20 µs)`,
  );
}
process.exitCode = worst <= 20 ? 0 : 1;
