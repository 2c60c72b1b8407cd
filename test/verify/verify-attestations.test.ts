import test from 'ava';
import type { AttestationRecord } from '../../src/verify/attestation.js';
import { verifyAttestors } from '../../src/verify/verify-attestations.js';
import type { TrustedAttestor } from '../../src/verify/verify-attestations.js';
import { digestOf, makeKey, payloadFor, signWith, trust } from './fixtures.js';

const NAME = 'gcr.io/org/app';
const D = digestOf('image');
const image = { name: NAME, digest: D };
const key = makeKey('ECDSA_P256_SHA256');
const outsider = makeKey('ECDSA_P256_SHA256');
const p384 = makeKey('ECDSA_P384_SHA384');
const attestor: TrustedAttestor = { name: 'built', keys: [trust(key, 'k1')], threshold: 1 };

function record(
  payload: Uint8Array,
  signer = key,
  publicKeyId: string | undefined = 'k1',
): AttestationRecord {
  return { payload, signatures: [{ publicKeyId, signature: signWith(signer, payload) }] };
}
const raw = (s: string) => Buffer.from(s);

test('a valid attestation satisfies the attestor', (t) => {
  const [outcome] = verifyAttestors([attestor], image, [record(payloadFor(NAME, D))], {
    bindDockerReference: true,
  });
  t.deepEqual(outcome, { attestor: 'built', satisfied: true, keyIds: ['k1'], reason: 'VERIFIED' });
});

const cases: [string, () => AttestationRecord[], string, boolean?][] = [
  ['no_attestations_fail', () => [], 'NO_ATTESTATION'],
  ['payload_digest_mismatch_fail', () => [record(payloadFor(NAME, digestOf('other')))], 'DIGEST_MISMATCH'],
  ['payload_not_json_fail', () => [record(raw('not json'))], 'PAYLOAD_INVALID'],
  ['payload_truncated_fail', () => [record(payloadFor(NAME, D).subarray(0, 40))], 'PAYLOAD_INVALID'],
  ['payload_missing_critical_fail', () => [record(raw('{"optional":{}}'))], 'PAYLOAD_INVALID'],
  [
    'payload_wrong_type_fail',
    () => [record(payloadFor(NAME, D, 'atomic container signature'))],
    'PAYLOAD_TYPE',
  ],
  [
    'key_outside_attestor_fail',
    () => [record(payloadFor(NAME, D), outsider, undefined)],
    'SIGNATURE_INVALID',
  ],
  [
    'key_outside_attestor_claiming_id_fail',
    () => [record(payloadFor(NAME, D), outsider, 'k1')],
    'SIGNATURE_INVALID',
  ],
  ['unknown_key_id_fail', () => [record(payloadFor(NAME, D), key, 'k2')], 'KEY_UNKNOWN'],
  ['key_id_case_differs_fail', () => [record(payloadFor(NAME, D), key, 'K1')], 'KEY_UNKNOWN'],
  ['p384_signature_for_p256_key_fail', () => [record(payloadFor(NAME, D), p384, 'k1')], 'SIGNATURE_INVALID'],
  [
    'tampered_payload_fail',
    () => {
      const r = record(payloadFor(NAME, D));
      return [{ ...r, payload: payloadFor(NAME, D, 'cosign container image signature') }];
    },
    'SIGNATURE_INVALID',
  ],
  [
    'signature_over_other_digest_reused_fail',
    () => {
      const other = record(payloadFor(NAME, digestOf('other')));
      return [{ payload: payloadFor(NAME, D), signatures: other.signatures }];
    },
    'SIGNATURE_INVALID',
  ],
  [
    'reference_mismatch_when_bound_fail',
    () => [record(payloadFor('gcr.io/evil/app', D))],
    'REFERENCE_MISMATCH',
    true,
  ],
  [
    'reference_unparsable_when_bound_fail',
    () => [record(payloadFor('docker://gcr.io/org/app', D))],
    'REFERENCE_MISMATCH',
    true,
  ],
  ['empty_signature_list_fail', () => [{ payload: payloadFor(NAME, D), signatures: [] }], 'NO_ATTESTATION'],
  [
    'garbage_signature_fail',
    () => [{ payload: payloadFor(NAME, D), signatures: [{ signature: new Uint8Array(70) }] }],
    'SIGNATURE_INVALID',
  ],
];
for (const [name, records, reason, bind] of cases) {
  test(name, (t) => {
    const [outcome] = verifyAttestors([attestor], image, records(), { bindDockerReference: bind ?? false });
    t.false(outcome?.satisfied);
    t.is<string | undefined, string>(outcome?.reason, reason);
    t.deepEqual(outcome?.keyIds, []);
  });
}

test('a bad record does not hide a good one, and the most specific reason is kept', (t) => {
  const good = record(payloadFor(NAME, D));
  const [ok] = verifyAttestors([attestor], image, [record(raw('x')), good], { bindDockerReference: false });
  t.true(ok?.satisfied);
  const [bad] = verifyAttestors(
    [attestor],
    image,
    [record(payloadFor(NAME, digestOf('other'))), record(payloadFor(NAME, D), outsider, undefined)],
    { bindDockerReference: false },
  );
  t.is(bad?.reason, 'DIGEST_MISMATCH');
});

test('the Docker Hub short reference binds to the normalised name', (t) => {
  const hub = { name: 'docker.io/library/nginx', digest: D };
  const [outcome] = verifyAttestors([attestor], hub, [record(payloadFor('nginx', D))], {
    bindDockerReference: true,
  });
  t.true(outcome?.satisfied);
});

test('record and signature counts are bounded', (t) => {
  const good = record(payloadFor(NAME, D));
  const junk = Array.from({ length: 64 }, () => record(raw('x')));
  const [outcome] = verifyAttestors([attestor], image, [...junk, good], { bindDockerReference: false });
  t.false(outcome?.satisfied);
});
