import test from 'ava';
import { ASN1Obj, X509Certificate } from '@sigstore/core';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial } from '@sigstore/verify';
import root from '../../src/verify/keyless/public-good-trusted-root.json' with { type: 'json' };
import {
  encodeTree,
  prepareLeaf,
  prepareRootCertificate,
} from '../../src/verify/keyless/certificate-cost.js';
import { createSigstoreDeployment, GITHUB_ISSUER, leafOf, own } from '../helpers/sigstore-deployment.js';

test('the direct DER encoder gives ASN1Obj.toDER’s bytes for every certificate of the public-good root and a Fulcio-style leaf', async (t) => {
  const dep = await createSigstoreDeployment();
  const leaf = leafOf(
    await dep.signDsse(`sha256:${'ab'.repeat(32)}`, { subject: 'a@b.c', issuer: GITHUB_ISSUER }),
  );
  const material = toTrustMaterial(TrustedRoot.fromJSON(root), () => {
    throw new Error('no keys by hint');
  });
  const ders = [
    leaf,
    ...[...material.certificateAuthorities, ...material.timestampAuthorities].flatMap((ca) =>
      ca.certChain.map((c) => own(c.root.toDER())),
    ),
  ];
  t.true(ders.length >= 5);
  for (const der of ders) {
    const reference = ASN1Obj.parseBuffer(der).toDER();
    const direct = ASN1Obj.parseBuffer(der);
    encodeTree(direct, false);
    t.true(direct.toDER().equals(reference));
    t.true(reference.equals(der));
  }
});

test('a prepared leaf verifies against its CA and not when its signature or its signed bytes change', async (t) => {
  const dep = await createSigstoreDeployment();
  const other = await dep.newAuthority();
  const ca = X509Certificate.parse(Buffer.from(dep.authority.ca.rootCertificate));
  const otherCa = X509Certificate.parse(Buffer.from(other.ca.rootCertificate));
  prepareRootCertificate(ca);
  prepareRootCertificate(otherCa);
  const der = leafOf(
    await dep.signDsse(`sha256:${'ab'.repeat(32)}`, { subject: 'a@b.c', issuer: GITHUB_ISSUER }),
  );

  const leaf = X509Certificate.parse(der);
  prepareLeaf(leaf);
  t.true(leaf.verify(ca));
  t.false(leaf.verify(otherCa));

  // The signature is the last bytes of the certificate: flip one.
  const badSignature = own(der);
  badSignature[badSignature.length - 2]! ^= 1;
  const forged = X509Certificate.parse(badSignature);
  prepareLeaf(forged);
  t.false(forged.verify(ca));

  // A byte of the subject alternative name changed (the signed TBS differs).
  const at = der.indexOf(Buffer.from('a@b.c'));
  t.true(at > 0);
  const renamed = own(der);
  renamed[at] = 'x'.charCodeAt(0);
  const impostor = X509Certificate.parse(renamed);
  prepareLeaf(impostor);
  t.false(impostor.verify(ca));
});

test('a prepared leaf’s clone encodes its modifications (the SCT check removes an extension from it)', async (t) => {
  const dep = await createSigstoreDeployment();
  const leaf = X509Certificate.parse(
    leafOf(await dep.signDsse(`sha256:${'ab'.repeat(32)}`, { subject: 'a@b.c', issuer: GITHUB_ISSUER })),
  );
  prepareLeaf(leaf);
  const before = leaf.tbsCertificate.toDER();
  const clone = leaf.clone();
  const count = clone.extensions.length;
  clone.extensions.splice(count - 1, 1);
  const reference = ASN1Obj.parseBuffer(own(clone.root.toDER()));
  t.true(clone.tbsCertificate.toDER().length < before.length);
  // Same bytes as sigstore-js's own encoder gives for the modified tree.
  const plain = X509Certificate.parse(own(leaf.root.toDER()));
  plain.extensions.splice(count - 1, 1);
  t.true(clone.tbsCertificate.toDER().equals(plain.tbsCertificate.toDER()));
  t.is(reference.subs.length, 3);
  // The original is untouched.
  t.true(leaf.tbsCertificate.toDER().equals(before));
});

test('a frozen tree parsed from canonical DER encodes to the parsed bytes, node by node; a non-canonical one is re-encoded', async (t) => {
  const dep = await createSigstoreDeployment();
  const der = leafOf(
    await dep.signDsse(`sha256:${'ab'.repeat(32)}`, { subject: 'a@b.c', issuer: GITHUB_ISSUER }),
  );
  const reference = ASN1Obj.parseBuffer(own(der));
  const frozen = ASN1Obj.parseBuffer(own(der));
  encodeTree(frozen, true);
  const compare = (a: ASN1Obj, b: ASN1Obj): number => {
    t.true(a.toDER().equals(b.toDER()));
    t.is(a.subs.length, b.subs.length);
    return 1 + a.subs.reduce((n, sub, i) => n + compare(sub, b.subs[i]!), 0);
  };
  t.true(compare(frozen, reference) > 20);
  // The parsed bytes themselves (no copy): the root's encoding lies in the buffer its value came from.
  t.is(frozen.toDER().buffer, frozen.value.buffer);

  // INTEGER 5 with a long-form length (0x81 0x01) inside a SEQUENCE: valid BER, not DER.
  const loose = ASN1Obj.parseBuffer(Buffer.from([0x30, 0x04, 0x02, 0x81, 0x01, 0x05]));
  encodeTree(loose, true);
  t.deepEqual([...loose.toDER()], [0x30, 0x03, 0x02, 0x01, 0x05]);
  const plain = ASN1Obj.parseBuffer(Buffer.from([0x30, 0x04, 0x02, 0x81, 0x01, 0x05]));
  t.true(loose.toDER().equals(plain.toDER()));
  t.true(loose.subs[0]!.toDER().equals(plain.subs[0]!.toDER()));
  // A context tag [1] (0x81) whose long-form length starts with the same byte: 81 81 02 over 2 bytes.
  const bytes = [0x30, 0x05, 0x81, 0x81, 0x02, 0xaa, 0xbb];
  const tricky = ASN1Obj.parseBuffer(Buffer.from(bytes));
  encodeTree(tricky, true);
  t.deepEqual([...tricky.toDER()], [0x30, 0x04, 0x81, 0x02, 0xaa, 0xbb]);
  t.true(tricky.toDER().equals(ASN1Obj.parseBuffer(Buffer.from(bytes)).toDER()));
});

test('a prepared leaf’s clone encodes to the leaf’s bytes and shares no node it may modify', async (t) => {
  const dep = await createSigstoreDeployment();
  const der = leafOf(
    await dep.signDsse(`sha256:${'ab'.repeat(32)}`, { subject: 'a@b.c', issuer: GITHUB_ISSUER }),
  );
  const leaf = X509Certificate.parse(der);
  prepareLeaf(leaf);
  const clone = leaf.clone();
  t.true(clone.root.toDER().equals(der));
  t.not(clone.root, leaf.root);
  t.not(clone.tbsCertificate, leaf.tbsCertificate);
  t.not(clone.extensions, leaf.extensions);
  const count = leaf.extensions.length;
  clone.extensions.splice(0, count);
  t.is(leaf.extensions.length, count);
  t.true(leaf.root.toDER().equals(der));
  t.true(X509Certificate.parse(der).verify(X509Certificate.parse(own(dep.authority.ca.rootCertificate))));
});
