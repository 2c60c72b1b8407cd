import test from 'ava';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { bundleFromJSON } from '@sigstore/bundle';
import { X509Certificate } from '@sigstore/core';
import { prepareLeaf, prepareRootCertificate } from '../../src/verify/keyless/certificate-cost.js';
import { parseTrustedRoot } from '../../src/verify/keyless/trusted-root.js';
import {
  forgetVerifiedSignatures,
  VERIFIED_SIGNATURES_LIMIT,
  verifiedSignatureCount,
  verifySignatureOnce,
} from '../../src/verify/keyless/verified-signatures.js';
import { verifyKeylessBundle } from '../../src/verify/keyless/verify-bundle.js';
import { createSigstoreDeployment, GITHUB_ISSUER, leafOf, own } from '../helpers/sigstore-deployment.js';

// The memo is one per process: every test here runs serially so counts are this test's own.

const D = `sha256:${'ab'.repeat(32)}`;
const signer = {
  subject: 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main',
  issuer: GITHUB_ISSUER,
};
const flip = (bytes: Uint8Array, at: number): Buffer<ArrayBuffer> => {
  const copy = own(bytes);
  copy[at]! ^= 1;
  return copy;
};

function keyAndSignature(data: Buffer) {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    spki: pair.publicKey.export({ type: 'spki', format: 'der' }),
    signature: sign('sha256', data, pair.privateKey),
  };
}

/** DER of SEQUENCE/BIT STRING etc.: tag, definite length, body. */
function der(tag: number, body: Buffer): Buffer {
  if (body.length < 0x80) return Buffer.concat([Buffer.from([tag, body.length]), body]);
  const length: number[] = [];
  for (let rest = body.length; rest > 0; rest = Math.floor(rest / 256)) length.unshift(rest % 256);
  return Buffer.concat([Buffer.from([tag, 0x80 | length.length, ...length]), body]);
}

async function preparedDeployment() {
  const dep = await createSigstoreDeployment();
  const ca = X509Certificate.parse(own(dep.authority.ca.rootCertificate));
  prepareRootCertificate(ca);
  return { dep, ca };
}

test.serial(
  'one byte changed in the signature, the signed bytes or the key is refused after the same check is memoised',
  (t) => {
    forgetVerifiedSignatures();
    const data = Buffer.from('to be signed by a CA: a TBS certificate'.repeat(20));
    const { spki, signature } = keyAndSignature(data);
    t.true(verifySignatureOnce('sha256', spki, data, signature));
    t.is(verifiedSignatureCount(), 1);
    t.true(verifySignatureOnce('sha256', spki, data, signature)); // a hit
    t.is(verifiedSignatureCount(), 1);

    t.false(verifySignatureOnce('sha256', spki, data, flip(signature, signature.length - 1)));
    t.false(verifySignatureOnce('sha256', spki, flip(data, 0), signature));
    t.false(verifySignatureOnce('sha256', spki, flip(data, data.length - 1), signature));
    // The key's last byte (its point's y coordinate): another point or none; and another valid key.
    t.false(verifySignatureOnce('sha256', flip(spki, spki.length - 1), data, signature));
    t.false(verifySignatureOnce('sha256', keyAndSignature(data).spki, data, signature));
    // Another digest over the same bytes.
    t.false(verifySignatureOnce('sha384', spki, data, signature));
    t.is(verifiedSignatureCount(), 1);
  },
);

test.serial(
  'only successes are stored: a failure is recomputed, and a later valid signature still verifies',
  (t) => {
    forgetVerifiedSignatures();
    const data = Buffer.from('some bytes');
    const { spki, signature } = keyAndSignature(data);
    const bad = flip(signature, signature.length - 1);
    t.false(verifySignatureOnce('sha256', spki, data, bad));
    t.false(verifySignatureOnce('sha256', spki, data, bad));
    t.is(verifiedSignatureCount(), 0);
    // Garbage never throws and is never stored.
    t.false(verifySignatureOnce('sha256', Buffer.from('not a key'), data, signature));
    t.false(verifySignatureOnce('no-such-digest', spki, data, signature));
    t.is(verifiedSignatureCount(), 0);
    t.true(verifySignatureOnce('sha256', spki, data, signature));
    t.is(verifiedSignatureCount(), 1);
  },
);

test.serial(
  'the memo is bounded: it never holds more than its limit, and an evicted check is verified again',
  (t) => {
    forgetVerifiedSignatures();
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = pair.publicKey.export({ type: 'spki', format: 'der' });
    const first = Buffer.from('check 0');
    const firstSignature = sign('sha256', first, pair.privateKey);
    t.true(verifySignatureOnce('sha256', spki, first, firstSignature));
    let most = 0;
    for (let i = 1; i < VERIFIED_SIGNATURES_LIMIT + 100; i++) {
      const data = Buffer.from(`check ${i}`);
      t.true(verifySignatureOnce('sha256', spki, data, sign('sha256', data, pair.privateKey)));
      most = Math.max(most, verifiedSignatureCount());
    }
    t.is(most, VERIFIED_SIGNATURES_LIMIT);
    t.is(verifiedSignatureCount(), VERIFIED_SIGNATURES_LIMIT);
    // Evicted: checked again (and still right), which stores it again.
    t.true(verifySignatureOnce('sha256', spki, first, firstSignature));
    t.false(verifySignatureOnce('sha256', spki, first, flip(firstSignature, firstSignature.length - 1)));
    t.is(verifiedSignatureCount(), VERIFIED_SIGNATURES_LIMIT);
  },
);

test.serial('a leaf checked before costs no verification the second time', async (t) => {
  forgetVerifiedSignatures();
  const { dep, ca } = await preparedDeployment();
  const der = leafOf(await dep.signDsse(D, signer));
  const first = X509Certificate.parse(der);
  prepareLeaf(first);
  t.true(first.verify(ca));
  const count = verifiedSignatureCount();
  const again = X509Certificate.parse(own(der));
  prepareLeaf(again);
  t.true(again.verify(ca));
  t.is(verifiedSignatureCount(), count);
});

test.serial(
  'a certificate from another CA with the same subject name is refused while the real CA’s checks are memoised',
  async (t) => {
    forgetVerifiedSignatures();
    const { dep, ca } = await preparedDeployment();
    const rogue = await dep.newAuthority({ ctKey: dep.authority.ctKey });
    const rogueCa = X509Certificate.parse(own(rogue.ca.rootCertificate));
    t.true(rogueCa.subject.equals(ca.subject)); // same name, another key
    t.false(rogueCa.publicKey.equals(ca.publicKey));

    const real = X509Certificate.parse(leafOf(await dep.signDsse(D, signer)));
    prepareLeaf(real);
    t.true(real.verify(ca));
    const json = await dep.signDsse(D, { ...signer, authority: rogue });
    const impostor = X509Certificate.parse(leafOf(json));
    prepareLeaf(impostor);
    t.true(impostor.issuer.equals(real.issuer));
    t.false(impostor.verify(ca));
    t.false(impostor.verify(ca)); // a failure is not remembered as anything

    const trust = parseTrustedRoot(dep.trustedRoot, 'test');
    t.true(verifyKeylessBundle(bundleFromJSON(await dep.signDsse(D, signer)), undefined, trust).ok);
    t.like(verifyKeylessBundle(bundleFromJSON(json), undefined, trust), {
      ok: false,
      reason: 'CERTIFICATE_INVALID',
    });
  },
);

test.serial(
  'a CA-signed TBS re-signed by an untrusted key is refused, though the genuine check is memoised',
  async (t) => {
    forgetVerifiedSignatures();
    const { dep, ca } = await preparedDeployment();
    const bytes = leafOf(await dep.signDsse(D, signer));
    const genuine = X509Certificate.parse(bytes);
    prepareLeaf(genuine);
    t.true(genuine.verify(ca));
    const count = verifiedSignatureCount();

    const tbs = genuine.tbsCertificate.toDER();
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const signature = sign(genuine.signatureAlgorithm, tbs, attacker.privateKey);
    const forgedDer = der(
      0x30,
      Buffer.concat([
        tbs,
        genuine.root.subs[1]!.toDER(),
        der(0x03, Buffer.concat([Buffer.from([0]), signature])),
      ]),
    );
    const forged = X509Certificate.parse(own(forgedDer));
    prepareLeaf(forged);
    t.true(forged.tbsCertificate.toDER().equals(tbs));
    t.false(forged.signatureValue.equals(genuine.signatureValue));
    t.false(forged.verify(ca));
    // One byte of the genuine certificate's signature or TBS changed: refused too.
    const badSignature = X509Certificate.parse(flip(bytes, bytes.length - 2));
    prepareLeaf(badSignature);
    t.false(badSignature.verify(ca));
    const at = bytes.indexOf(Buffer.from('acme/app'));
    t.true(at > 0);
    const renamed = X509Certificate.parse(flip(bytes, at));
    prepareLeaf(renamed);
    t.false(renamed.verify(ca));
    t.is(verifiedSignatureCount(), count);
    // Control: the signature does verify under the attacker's key (the refusal is about the key).
    t.true(
      verifySignatureOnce(
        genuine.signatureAlgorithm,
        attacker.publicKey.export({ type: 'spki', format: 'der' }),
        tbs,
        signature,
      ),
    );
  },
);

test.serial(
  'a certificate expired at signing time is refused though its CA signature check is memoised',
  async (t) => {
    forgetVerifiedSignatures();
    const dep = await createSigstoreDeployment();
    // A trusted log an hour ahead: its SET says the signature was made after the certificate's 10 minutes.
    const lateLog = await dep.newLog(new Date(Date.now() + 60 * 60 * 1000));
    const root = structuredClone(dep.trustedRoot) as { tlogs: Record<string, unknown>[] };
    const spki = lateLog.key.publicKey.export({ type: 'spki', format: 'der' });
    const tlog = root.tlogs[0] as { publicKey: Record<string, unknown> };
    root.tlogs.push({
      ...tlog,
      publicKey: { ...tlog.publicKey, rawBytes: spki.toString('base64') },
      logId: { keyId: createHash('sha256').update(spki).digest('base64') },
    });
    const trust = parseTrustedRoot(root, 'late-log');
    const late = await dep.signDsse(D, { ...signer, log: lateLog });

    // Control: in time, accepted (which also warms the CA's own check).
    t.true(verifyKeylessBundle(bundleFromJSON(await dep.signDsse(D, signer)), undefined, trust).ok);
    // Warm: the late bundle's leaf, checked against the trusted root's own (prepared) CA certificate.
    const ca = trust.material.certificateAuthorities[0]!.certChain[0]!;
    const leaf = X509Certificate.parse(leafOf(late));
    prepareLeaf(leaf);
    t.true(leaf.verify(ca));
    const count = verifiedSignatureCount();

    const check = verifyKeylessBundle(bundleFromJSON(late), undefined, trust);
    t.like(check, { ok: false, reason: 'CERTIFICATE_INVALID' });
    t.regex(check.ok ? '' : check.detail, /valid|expired/i);
    t.is(verifiedSignatureCount(), count);
  },
);
