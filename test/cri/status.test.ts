/**
 * cri/status.ts: the one table from admission refusals to the gRPC status the kubelet sees. The kubelet
 * matches the message prefixes (pod reasons SignatureValidationFailed, RegistryUnavailable).
 */
import test from 'ava';
import type { RefusalKind } from '../../src/admission/admission.js';
import { MAX_STATUS_MESSAGE, toRejection } from '../../src/cri/status.js';
import { GrpcCode } from '../../src/cri/transport/grpc-wire.js';

test('an allowed outcome is no rejection', (t) => {
  t.is(toRejection({ allowed: true }), undefined);
});

test('each refusal kind maps to UNKNOWN with the prefix the kubelet matches', (t) => {
  const expected: Record<RefusalKind, string> = {
    denied: 'SignatureValidationFailed: no attestation by attestor a',
    'registry-unavailable': 'RegistryUnavailable: no attestation by attestor a',
    // The node, not the image: no prefix that names a signature or registry failure.
    busy: 'no attestation by attestor a',
    'bad-request': 'SignatureValidationFailed: no attestation by attestor a',
  };
  for (const [kind, message] of Object.entries(expected) as [RefusalKind, string][]) {
    t.deepEqual(toRejection({ allowed: false, kind, reason: 'no attestation by attestor a' }), {
      code: GrpcCode.UNKNOWN,
      message,
    });
  }
});

test('a message at the limit is kept whole; a longer one is cut to the limit, ending in an ellipsis', (t) => {
  const prefix = 'SignatureValidationFailed: ';
  const fits = 'a'.repeat(MAX_STATUS_MESSAGE - prefix.length);
  t.is(toRejection({ allowed: false, kind: 'denied', reason: fits })?.message, prefix + fits);
  const long = toRejection({ allowed: false, kind: 'denied', reason: `${fits}b` })?.message ?? '';
  t.is(long.length, MAX_STATUS_MESSAGE);
  t.true(long.startsWith(prefix));
  t.true(long.endsWith('a…'));
});

test('attack: a huge reason (a registry-controlled string) cannot make the status unbounded', (t) => {
  const message = toRejection({
    allowed: false,
    kind: 'registry-unavailable',
    reason: 'x'.repeat(1 << 20),
  })?.message;
  t.is(message?.length, MAX_STATUS_MESSAGE);
  t.true(message?.startsWith('RegistryUnavailable: '));
});

test('an unknown refusal kind (a programming error) throws rather than passing as allowed', (t) => {
  const bogus = { allowed: false, kind: 'maybe', reason: 'x' } as unknown as Parameters<
    typeof toRejection
  >[0];
  t.throws(() => toRejection(bogus));
});
