import test from 'ava';
import fc from 'fast-check';
import { SIGNATURE_ALGORITHMS } from '../../src/verify/algorithms.js';
import { VerifyError } from '../../src/verify/errors.js';
import { parseTrustedKey } from '../../src/verify/public-key.js';
import { isStrictDerEcdsa, verifySignature } from '../../src/verify/signature.js';
import { digestOf, makeKey, payloadFor, signWith, trust } from './fixtures.js';

const payload = payloadFor('gcr.io/org/app', digestOf('sig'));

for (const algorithm of SIGNATURE_ALGORITHMS) {
  test(`${algorithm}: verifies its own signature, not a tampered payload or another key's`, (t) => {
    const key = makeKey(algorithm);
    const sig = signWith(key, payload);
    t.true(verifySignature(trust(key), payload, sig));
    const tampered = Buffer.from(payload);
    tampered[10] = tampered[10]! ^ 1;
    t.false(verifySignature(trust(key), tampered, sig));
    if (!algorithm.startsWith('RSA')) t.false(verifySignature(trust(makeKey(algorithm)), payload, sig));
  });
}

test('EC_SIGN_P256_SHA256 is an alias of ECDSA_P256_SHA256', (t) => {
  const key = makeKey('ECDSA_P256_SHA256');
  t.is(parseTrustedKey('k', key.publicPem, 'EC_SIGN_P256_SHA256').algorithm, 'ECDSA_P256_SHA256');
});

const ec = makeKey('ECDSA_P256_SHA256');
const ecSig = Buffer.from(signWith(ec, payload));
const ed = makeKey('ED25519');
const edSig = Buffer.from(signWith(ed, payload));
const rsa = makeKey('RSA_SIGN_PKCS1_2048_SHA256');
const rsaSig = Buffer.from(signWith(rsa, payload));

/** DER → raw r‖s (32 bytes each), what JOSE/WebCrypto produce and DER verifiers must refuse. */
function toRaw(der: Buffer): Buffer {
  const rLen = der[3]!;
  const r = der.subarray(4, 4 + rLen);
  const s = der.subarray(6 + rLen);
  const pad = (x: Buffer) => Buffer.concat([Buffer.alloc(32), x]).subarray(-32);
  return Buffer.concat([pad(r), pad(s)]);
}

/** Adds the group order L to S: the same point equation holds, but S is not canonical. */
function nonCanonicalEd25519(sig: Buffer): Buffer {
  const L = Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex');
  const out = Buffer.from(sig);
  let carry = 0;
  for (let i = 0; i < 32; i++) {
    const v = out[32 + i]! + L[i]! + carry;
    out[32 + i] = v & 0xff;
    carry = v >> 8;
  }
  return out;
}

const malformed: [string, () => ReturnType<typeof trust>, Buffer][] = [
  ['ecdsa_empty_fail', () => trust(ec), Buffer.alloc(0)],
  ['ecdsa_trailing_bytes_fail', () => trust(ec), Buffer.concat([ecSig, Buffer.from([0])])],
  ['ecdsa_raw_r_s_fail', () => trust(ec), toRaw(ecSig)],
  ['ecdsa_truncated_fail', () => trust(ec), ecSig.subarray(0, ecSig.length - 1)],
  [
    'ecdsa_long_length_form_fail',
    () => trust(ec),
    Buffer.concat([Buffer.from([0x30, 0x81, ecSig[1]!]), ecSig.subarray(2)]),
  ],
  ['ecdsa_huge_fail', () => trust(ec), Buffer.alloc(1 << 20, 1)],
  ['ed25519_short_fail', () => trust(ed), edSig.subarray(0, 63)],
  ['ed25519_long_fail', () => trust(ed), Buffer.concat([edSig, Buffer.from([0])])],
  ['ed25519_non_canonical_fail', () => trust(ed), nonCanonicalEd25519(edSig)],
  ['rsa_short_fail', () => trust(rsa), rsaSig.subarray(1)],
  ['rsa_leading_zero_fail', () => trust(rsa), Buffer.concat([Buffer.from([0]), rsaSig])],
  ['ecdsa_signature_under_ed25519_key_fail', () => trust(ed), ecSig],
];
for (const [name, key, sig] of malformed) {
  test(name, (t) => t.false(verifySignature(key(), payload, sig)));
}

test('the strict DER check accepts real signatures and rejects padding', (t) => {
  t.true(isStrictDerEcdsa(ecSig));
  t.false(isStrictDerEcdsa(Buffer.from([0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01])));
  t.false(isStrictDerEcdsa(Buffer.from([0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01])));
});

test('fuzz: random signatures never verify and never throw', (t) => {
  const keys = [trust(ec), trust(ed), trust(rsa)];
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.uint8Array({ maxLength: 200 }), (sig, data) =>
      keys.every((k) => verifySignature(k, data, sig) === false),
    ),
    { numRuns: 500 },
  );
  t.pass();
});

const badKeys: [string, () => [string, string], string][] = [
  [
    'p384_key_as_p256_fail',
    () => [makeKey('ECDSA_P384_SHA384').publicPem, 'ECDSA_P256_SHA256'],
    'CG_ERR_KEY_ALGORITHM_MISMATCH',
  ],
  [
    'rsa2048_as_4096_fail',
    () => [rsa.publicPem, 'RSA_SIGN_PKCS1_4096_SHA256'],
    'CG_ERR_KEY_ALGORITHM_MISMATCH',
  ],
  ['rsa_as_ecdsa_fail', () => [rsa.publicPem, 'ECDSA_P256_SHA256'], 'CG_ERR_KEY_ALGORITHM_MISMATCH'],
  ['ed25519_as_ecdsa_fail', () => [ed.publicPem, 'ECDSA_P256_SHA256'], 'CG_ERR_KEY_ALGORITHM_MISMATCH'],
  [
    'unknown_algorithm_fail',
    () => [ec.publicPem, 'ECDSA_SECP256K1_SHA256'],
    'CG_ERR_KEY_ALGORITHM_UNSUPPORTED',
  ],
  [
    'garbage_pem_fail',
    () => ['-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', 'ED25519'],
    'CG_ERR_KEY_INVALID',
  ],
  ['two_pem_blocks_fail', () => [ec.publicPem + ed.publicPem, 'ECDSA_P256_SHA256'], 'CG_ERR_KEY_INVALID'],
  [
    'private_key_fail',
    () => [ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'ECDSA_P256_SHA256'],
    'CG_ERR_KEY_INVALID',
  ],
];
for (const [name, input, code] of badKeys) {
  test(name, (t) => {
    const [pem, alg] = input();
    t.is<string | undefined, string>(
      t.throws(() => parseTrustedKey('k', pem, alg), { instanceOf: VerifyError })?.code,
      code,
    );
  });
}
