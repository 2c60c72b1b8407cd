import test from 'ava';
import {
  checkInTotoStatement,
  decodeDssePae,
  encodeDssePae,
  IN_TOTO_PAYLOAD_TYPE,
} from '../../src/verify/dsse.js';
import type { InTotoCheck } from '../../src/verify/dsse.js';

const D = `sha256:${'c'.repeat(64)}`;
const statement = (
  digest: string,
  type = 'https://in-toto.io/Statement/v1',
  predicateType = 'https://sigstore.dev/cosign/sign/v1',
) =>
  Buffer.from(
    JSON.stringify({
      _type: type,
      subject: [{ name: 'x', digest: { sha256: digest.slice(7) } }],
      predicateType,
    }),
  );

test('PAE matches the DSSE spec example and round-trips', (t) => {
  const pae = encodeDssePae('http://example.com/HelloWorld', Buffer.from('hello world'));
  t.is(Buffer.from(pae).toString(), 'DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  t.deepEqual(decodeDssePae(pae), {
    payloadType: 'http://example.com/HelloWorld',
    body: new Uint8Array(Buffer.from('hello world')),
  });
});

test('in-toto statement naming the digest → OK', (t) => {
  t.is(checkInTotoStatement(encodeDssePae(IN_TOTO_PAYLOAD_TYPE, statement(D)), D), 'OK');
});

const bad: [string, Uint8Array, InTotoCheck][] = [
  [
    'dsse_subject_digest_mismatch_fail',
    encodeDssePae(IN_TOTO_PAYLOAD_TYPE, statement(`sha256:${'d'.repeat(64)}`)),
    'DIGEST_MISMATCH',
  ],
  ['dsse_payload_type_fail', encodeDssePae('text/plain', statement(D)), 'PAYLOAD_TYPE'],
  [
    'dsse_sbom_predicate_fail',
    encodeDssePae(IN_TOTO_PAYLOAD_TYPE, statement(D, undefined, 'https://spdx.dev/Document')),
    'PAYLOAD_TYPE',
  ],
  [
    'dsse_vuln_scan_predicate_fail',
    encodeDssePae(
      IN_TOTO_PAYLOAD_TYPE,
      statement(D, undefined, 'https://cosign.sigstore.dev/attestation/vuln/v1'),
    ),
    'PAYLOAD_TYPE',
  ],
  ['dsse_statement_type_fail', encodeDssePae(IN_TOTO_PAYLOAD_TYPE, statement(D, 'other')), 'PAYLOAD_TYPE'],
  [
    'dsse_trailing_bytes_fail',
    Buffer.concat([encodeDssePae(IN_TOTO_PAYLOAD_TYPE, statement(D)), Buffer.from('x')]),
    'PAYLOAD_INVALID',
  ],
  [
    'dsse_leading_zero_length_fail',
    Buffer.from('DSSEv1 029 http://example.com/HelloWorld 11 hello world'),
    'PAYLOAD_INVALID',
  ],
  ['dsse_not_json_fail', encodeDssePae(IN_TOTO_PAYLOAD_TYPE, Buffer.from('nope')), 'PAYLOAD_INVALID'],
];
for (const [name, pae, want] of bad) test(name, (t) => t.is(checkInTotoStatement(pae, D), want));

test('a DSSE record signed by the attestor key satisfies it; a statement for another digest does not', async (t) => {
  const { makeKey, signWith, trust } = await import('./fixtures.js');
  const { verifyAttestors } = await import('../../src/verify/verify-attestations.js');
  const key = makeKey('ECDSA_P256_SHA256');
  const attestor = { name: 'builder', keys: [trust(key, 'k')], threshold: 1 };
  const image = { name: 'registry.example/app', digest: D };
  const record = (digest: string) => {
    const payload = encodeDssePae(IN_TOTO_PAYLOAD_TYPE, statement(digest));
    return { payload, signatures: [{ signature: signWith(key, payload) }] };
  };
  const ok = await verifyAttestors([attestor], image, [record(D)], { bindDockerReference: false });
  t.true(ok[0]!.satisfied);
  const other = await verifyAttestors([attestor], image, [record(`sha256:${'e'.repeat(64)}`)], {
    bindDockerReference: false,
  });
  t.deepEqual([other[0]!.satisfied, other[0]!.reason], [false, 'DIGEST_MISMATCH']);
});
