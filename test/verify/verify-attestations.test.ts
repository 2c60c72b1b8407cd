import test from 'ava';
import type { AttestationRecord } from '../../src/verify/attestation.js';
import { verifyAttestors } from '../../src/verify/verify-attestations.js';
import type { TrustedAttestor } from '../../src/verify/verify-attestations.js';
import {
  MAX_VERIFICATIONS_PER_DECISION,
  VerificationSession,
} from '../../src/verify/verification-session.js';
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

test('a valid attestation satisfies the attestor', async (t) => {
  const [outcome] = await verifyAttestors([attestor], image, [record(payloadFor(NAME, D))], {
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
  test(name, async (t) => {
    const [outcome] = await verifyAttestors([attestor], image, records(), {
      bindDockerReference: bind ?? false,
    });
    t.false(outcome?.satisfied);
    t.is<string | undefined, string>(outcome?.reason, reason);
    t.deepEqual(outcome?.keyIds, []);
  });
}

test('a bad record does not hide a good one, and the most specific reason is kept', async (t) => {
  const good = record(payloadFor(NAME, D));
  const [ok] = await verifyAttestors([attestor], image, [record(raw('x')), good], {
    bindDockerReference: false,
  });
  t.true(ok?.satisfied);
  const [bad] = await verifyAttestors(
    [attestor],
    image,
    [record(payloadFor(NAME, digestOf('other'))), record(payloadFor(NAME, D), outsider, undefined)],
    { bindDockerReference: false },
  );
  t.is(bad?.reason, 'DIGEST_MISMATCH');
});

test('the Docker Hub short reference binds to the normalised name', async (t) => {
  const hub = { name: 'docker.io/library/nginx', digest: D };
  const [outcome] = await verifyAttestors([attestor], hub, [record(payloadFor('nginx', D))], {
    bindDockerReference: true,
  });
  t.true(outcome?.satisfied);
});

test('record and signature counts are bounded', async (t) => {
  const good = record(payloadFor(NAME, D));
  const junk = Array.from({ length: 64 }, () => record(raw('x')));
  const [outcome] = await verifyAttestors([attestor], image, [...junk, good], { bindDockerReference: false });
  t.false(outcome?.satisfied);
});

// Issue 11: another signer's attestation without a publicKeyId is not tampering with this attestor's.
test('no_attestation_beside_other_signers_unnamed_signature: NO_ATTESTATION, not SIGNATURE_INVALID', async (t) => {
  const vendor: TrustedAttestor = { name: 'vendor', keys: [trust(outsider, 'v1')], threshold: 1 };
  const unnamed = (payload: Uint8Array): AttestationRecord => ({
    payload,
    signatures: [{ signature: signWith(outsider, payload) }],
  });
  const byVendor = unnamed(payloadFor(NAME, D));
  const [built, vendorOutcome] = await verifyAttestors([attestor, vendor], image, [byVendor], {
    bindDockerReference: false,
  });
  t.true(vendorOutcome?.satisfied);
  t.like(built, { satisfied: false, reason: 'NO_ATTESTATION' });
  // A second signature by the (already satisfied) vendor changes nothing.
  const again = unnamed(payloadFor(NAME, D, 'cosign container image signature'));
  const [stillBuilt] = await verifyAttestors([attestor, vendor], image, [byVendor, again], {
    bindDockerReference: false,
  });
  t.is(stillBuilt?.reason, 'NO_ATTESTATION');
  // A signature nobody's key verifies still reads as invalid.
  const forged = { payload: payloadFor(NAME, D), signatures: [{ signature: signWith(p384, raw('x')) }] };
  const [forgedBuilt] = await verifyAttestors([attestor, vendor], image, [forged], {
    bindDockerReference: false,
  });
  t.is(forgedBuilt?.reason, 'SIGNATURE_INVALID');
});

const ed = makeKey('ED25519');
const edAttestors: TrustedAttestor[] = [
  { name: 'a', keys: [trust(ed, 'ed')], threshold: 1 },
  { name: 'b', keys: [trust(ed, 'ed-again'), trust(key, 'k1')], threshold: 1 },
];
/** 64 well-formed (canonical S) but invalid Ed25519 signatures, without key ids. */
function hostileEd25519(count = 64): AttestationRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const sig = new Uint8Array(signWith(ed, raw(`other ${i}`)));
    return { payload: payloadFor(NAME, D), signatures: [{ signature: sig }] };
  });
}

test('each signature is verified once per key material, however many attestors hold the key', async (t) => {
  const session = new VerificationSession();
  const outcomes = await verifyAttestors(edAttestors, image, hostileEd25519(), {
    bindDockerReference: false,
    session,
  });
  t.true(outcomes.every((o) => !o.satisfied && o.reason === 'SIGNATURE_INVALID'));
  // 64 signatures × 2 key materials (the Ed25519 key is shared by both attestors, under two ids).
  t.is(session.verifications, 128);
  // Re-deciding with the same and more evidence (as admission does per evidence source) re-verifies nothing.
  await verifyAttestors(edAttestors, image, hostileEd25519(), { bindDockerReference: false, session });
  t.is(session.verifications, 128);
});

test('hostile_signature_flood_fail: verifications per decision are bounded, with a reason of their own', async (t) => {
  const session = new VerificationSession(40);
  const good = record(payloadFor(NAME, D));
  const flood = Array.from({ length: 64 }, (_, i) => ({
    payload: payloadFor(NAME, D),
    signatures: Array.from({ length: 16 }, (__, j) => ({
      publicKeyId: 'k1',
      signature: signWith(key, raw(`junk ${i} ${j}`)),
    })),
  }));
  const [outcome] = await verifyAttestors([attestor], image, [...flood, good], {
    bindDockerReference: false,
    maxRecords: 65,
    session,
  });
  t.like(outcome, { satisfied: false, reason: 'VERIFICATION_LIMIT' });
  t.is(session.verifications, 40);
  t.is(MAX_VERIFICATIONS_PER_DECISION, 128);
});

test('verification stops once every attestor is satisfied', async (t) => {
  const session = new VerificationSession();
  const good = record(payloadFor(NAME, D));
  const [outcome] = await verifyAttestors([attestor], image, [good, ...hostileEd25519()], {
    bindDockerReference: false,
    session,
  });
  t.true(outcome?.satisfied);
  t.is(session.verifications, 1);
});

test('hostile_ed25519_stall_fail: verification never holds the event loop for a whole decision', async (t) => {
  // Before: 64 invalid Ed25519 signatures were checked synchronously; nothing else ran until the verdict.
  let turns = 0;
  let done = false;
  const tick = (): void => {
    if (done) return;
    turns += 1;
    setImmediate(tick);
  };
  setImmediate(tick);
  const pending = verifyAttestors(edAttestors, image, hostileEd25519(), { bindDockerReference: false });
  const outcomes = await pending;
  done = true;
  t.true(outcomes.every((o) => !o.satisfied));
  // The loop turned while the signatures were being checked in the threadpool.
  t.true(turns > 8, `event loop turned ${turns} times during the decision`);
});
