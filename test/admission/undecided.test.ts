/**
 * decideUndecided: the one place where "could not decide" becomes an outcome. Deny by default; a dry-run
 * rule admits; `onUndecided: ALLOW` admits only an unavailable or slow registry the operator named.
 */
import test from 'ava';
import { AdmissionError } from '../../src/admission/errors.js';
import { decideUndecided, errorCode, registryOf, UNAVAILABLE_CODES } from '../../src/admission/undecided.js';
import type { CompiledRule } from '../../src/policy/types.js';
import { RegistryError } from '../../src/registry/errors.js';

const enforced: CompiledRule = {
  kind: 'default',
  key: undefined,
  evaluationMode: 'REQUIRE_ATTESTATION',
  enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
  attestors: [],
  onUndecided: 'DENY',
  onUndecidedRegistries: [],
  bindDockerReference: false,
};
const allowing: CompiledRule = {
  ...enforced,
  onUndecided: 'ALLOW',
  onUndecidedRegistries: ['mirror.example:5000'],
};
const unavailable = new RegistryError('CG_ERR_REGISTRY_UNAVAILABLE', 'connect ECONNREFUSED');
const timeout = new AdmissionError('CG_ERR_TIMEOUT', 'no answer in 10 s');

test('only registry-unavailable and timeout count as unavailability', (t) => {
  t.deepEqual([...UNAVAILABLE_CODES].sort(), ['CG_ERR_REGISTRY_UNAVAILABLE', 'CG_ERR_TIMEOUT']);
});

test('an enforced DENY rule refuses: unavailability as registry-unavailable, anything else as denied', (t) => {
  t.deepEqual(decideUndecided(enforced, unavailable, 'image x', 'mirror.example:5000/app'), {
    outcome: {
      allowed: false,
      kind: 'registry-unavailable',
      reason: 'cannot verify image x: CG_ERR_REGISTRY_UNAVAILABLE: connect ECONNREFUSED',
    },
    reason: 'UNDECIDED',
    dryRun: false,
  });
  const digest = new RegistryError('CG_ERR_REGISTRY_DIGEST_MISMATCH', 'manifest digest differs');
  t.deepEqual(decideUndecided(enforced, digest, 'image x', 'mirror.example:5000/app').outcome, {
    allowed: false,
    kind: 'denied',
    reason: 'cannot verify image x: CG_ERR_REGISTRY_DIGEST_MISMATCH: manifest digest differs',
  });
});

test('onUndecided: ALLOW admits an unavailable or slow registry the operator named', (t) => {
  for (const err of [unavailable, timeout]) {
    const decision = decideUndecided(allowing, err, 'image', 'mirror.example:5000/team/app');
    t.deepEqual(decision, { outcome: { allowed: true }, reason: 'UNDECIDED_ALLOWED_BY_RULE', dryRun: false });
  }
});

test('onUndecided: ALLOW still denies what a pusher could provoke (bad evidence, internal errors)', (t) => {
  for (const err of [
    new RegistryError('CG_ERR_REGISTRY_LIMIT', 'manifest too big'),
    new RegistryError('CG_ERR_REGISTRY_DIGEST_MISMATCH', 'digest differs'),
    new Error('TypeError: cannot read properties of undefined'),
    'a thrown string',
    undefined,
  ]) {
    const decision = decideUndecided(allowing, err, 'image', 'mirror.example:5000/app');
    t.false(decision.outcome.allowed, String(err));
    t.is(decision.reason, 'UNDECIDED');
  }
});

test('attack: a registry the operator did not name cannot turn its own outage into an allow', (t) => {
  for (const imageName of [
    'evil.example/app',
    'mirror.example/app', // same host, other port
    'mirror.example:50000/app',
    'mirror.example:5000.evil.example/app',
    'evil.example/mirror.example:5000/app', // the named registry as a path component
  ]) {
    const decision = decideUndecided(allowing, unavailable, 'image', imageName);
    t.deepEqual(decision.outcome, {
      allowed: false,
      kind: 'registry-unavailable',
      reason: 'cannot verify image: CG_ERR_REGISTRY_UNAVAILABLE: connect ECONNREFUSED',
    });
  }
  t.false(decideUndecided(allowing, unavailable, 'image').outcome.allowed, 'no image name: deny');
});

test('onUndecided: ALLOW only applies to REQUIRE_ATTESTATION rules', (t) => {
  const deny: CompiledRule = { ...allowing, evaluationMode: 'ALWAYS_DENY' };
  t.false(decideUndecided(deny, unavailable, 'image', 'mirror.example:5000/app').outcome.allowed);
});

test('a dry-run rule admits whatever the error, and says so', (t) => {
  const dryRun: CompiledRule = { ...enforced, enforcementMode: 'DRYRUN_AUDIT_LOG_ONLY' };
  for (const err of [unavailable, new Error('boom'), undefined]) {
    t.deepEqual(decideUndecided(dryRun, err, 'image'), {
      outcome: { allowed: true },
      reason: 'UNDECIDED_DRY_RUN',
      dryRun: true,
    });
  }
});

test('internal errors are never echoed to the kubelet; long messages are cut to 300 characters', (t) => {
  const internal = decideUndecided(enforced, new Error('secret at /etc/criguard/key.pem'), 'image');
  t.deepEqual(internal.outcome, {
    allowed: false,
    kind: 'denied',
    reason: 'cannot verify image: internal error',
  });
  const long = decideUndecided(
    enforced,
    new RegistryError('CG_ERR_REGISTRY_UNAVAILABLE', 'x'.repeat(5000)),
    'i',
  );
  const reason = long.outcome.allowed ? '' : long.outcome.reason;
  const message = `CG_ERR_REGISTRY_UNAVAILABLE: ${'x'.repeat(5000)}`;
  t.is(reason, `cannot verify i: ${message.slice(0, 299)}…`);
});

test('errorCode keeps catalogued codes and makes anything else CG_ERR_INTERNAL', (t) => {
  t.is(errorCode(timeout), 'CG_ERR_TIMEOUT');
  t.is(errorCode({ code: 'CG_ERR_TIMEOUT' }), 'CG_ERR_TIMEOUT');
  t.is(errorCode({ code: 'CG_ERR_NOT_A_CODE' }), 'CG_ERR_INTERNAL');
  t.is(errorCode(null), 'CG_ERR_INTERNAL');
});

test('registryOf is the part before the first slash', (t) => {
  t.is(registryOf('registry.example:5000/team/app'), 'registry.example:5000');
  t.is(registryOf('docker.io/library/busybox'), 'docker.io');
  t.is(registryOf('localhost'), 'localhost');
});

test('a node too busy to verify is its own refusal kind, denied even under onUndecided: ALLOW', (t) => {
  const busy = new AdmissionError('CG_ERR_VERIFY_BUSY', 'the node is verifying too many images: retry later');
  const lenient: CompiledRule = {
    ...enforced,
    onUndecided: 'ALLOW',
    onUndecidedRegistries: ['registry.example'],
  };
  for (const rule of [enforced, lenient]) {
    t.deepEqual(decideUndecided(rule, busy, 'registry.example/app@sha256:1', 'registry.example/app'), {
      outcome: {
        allowed: false,
        kind: 'busy',
        reason:
          'cannot verify registry.example/app@sha256:1 now: the node is verifying too many images: retry later',
      },
      reason: 'UNDECIDED',
      dryRun: false,
    });
  }
});
