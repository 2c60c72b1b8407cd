import test from 'ava';
import fc from 'fast-check';
import { PolicyLoadError } from '../../src/policy/errors.js';
import { loadPolicy } from '../../src/policy/load-policy.js';

const keys = [
  'defaultAdmissionRule',
  'evaluationMode',
  'enforcementMode',
  'requireAttestationsBy',
  'kubernetesNamespaceAdmissionRules',
  'clusterAdmissionRules',
  'admissionWhitelistPatterns',
  'namePattern',
  'attestors',
  'name',
  'userOwnedGrafeasNote',
  'publicKeys',
  'pkixPublicKey',
  'criguard',
  '__proto__',
  'constructor',
];
const values = [
  'ALWAYS_ALLOW',
  'REQUIRE_ATTESTATION',
  'ENFORCED_BLOCK_AND_AUDIT_LOG',
  'gcr.io/*',
  '**',
  'a',
  '',
];
const policyish = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(...values),
    fc.string(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...keys), tie('value'), { maxKeys: 5 }),
  ),
})).value;

function loadsOrFailsCleanly(text: string): boolean {
  try {
    loadPolicy({ policy: { source: 'fuzz', text } });
    return true;
  } catch (err) {
    return err instanceof PolicyLoadError && err.issues.length > 0;
  }
}

test('fuzz: structured documents never crash the loader', (t) => {
  fc.assert(
    fc.property(policyish, (doc) => loadsOrFailsCleanly(JSON.stringify(doc) ?? 'null')),
    { numRuns: 1500 },
  );
  t.pass();
});

test('fuzz: arbitrary text never crashes or hangs the loader', (t) => {
  const start = performance.now();
  fc.assert(
    fc.property(fc.string({ maxLength: 400 }), (text) => loadsOrFailsCleanly(text)),
    { numRuns: 1500 },
  );
  t.true(
    loadsOrFailsCleanly(`a: &a [${'*a,'.repeat(50)}]\nb: &b [${'*a,'.repeat(50)}]\nc: [${'*b,'.repeat(60)}]`),
  );
  t.true(performance.now() - start < 60_000);
});
