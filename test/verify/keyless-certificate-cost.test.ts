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
import { createSigstoreDeployment, GITHUB_ISSUER } from '../helpers/sigstore-deployment.js';

/** Bytes as the parsers type them. */
const own = (b: Uint8Array): Buffer<ArrayBuffer> => Buffer.from(b);
const leafOf = (bundle: Record<string, unknown>): Buffer<ArrayBuffer> =>
  Buffer.from(
    (bundle as { verificationMaterial: { certificate: { rawBytes: string } } }).verificationMaterial
      .certificate.rawBytes,
    'base64',
  );

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
