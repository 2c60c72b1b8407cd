/**
 * OpenPGP attestors as Binary Authorization defines them, with keys and signatures made by Debian's GnuPG
 * exactly as Google's attestation documentation shows (`gpg --quick-generate-key`, `gpg --armor --export`,
 * `gpg --local-user … --armor --sign`), checked through `criguard verify` (the daemon's decision code).
 */
import test, { type ExecutionContext } from 'ava';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { cli, tempDir, verdictOf } from '../cli/cli-harness.js';
import { createGpg, gcloudPayload, type Gpg } from '../helpers/gpg.js';
import { criguardCli } from '../helpers/signing.js';

const NAME = 'gcr.io/acme/app';
const DIGEST = `sha256:${'a1'.repeat(32)}`;
const OTHER = `sha256:${'b2'.repeat(32)}`;
const IMAGE = `${NAME}@${DIGEST}`;

let gpg: Gpg;
let rsa: string;
let ed: string;
let stranger: string;

test.before(async () => {
  gpg = createGpg();
  // Google's docs: `gpg --quick-generate-key --yes ${ATTESTOR_EMAIL}` (RSA by default) …
  rsa = await gpg.generate('rsa-attestor@example.com');
  // … and an EdDSA (Ed25519) signing key.
  ed = await gpg.generate('ed-attestor@example.com', 'ed25519', 'sign', '0');
  stranger = await gpg.generate('stranger@example.com', 'ed25519', 'sign', '0');
});
test.after.always(() => gpg?.dispose());

interface Att {
  payload: Uint8Array;
  signature: Uint8Array;
  publicKeyId?: string;
}

/** Writes a policy with one PGP attestor and the attestations, runs `criguard verify --output json`. */
async function verify(
  t: ExecutionContext,
  keys: { armored: string; id?: string }[],
  attestations: Att[],
): Promise<{ code: number; verdict: ReturnType<typeof verdictOf>; out: string }> {
  const dir = await tempDir(t);
  writeFileSync(
    join(dir, 'policy.json'),
    JSON.stringify({
      defaultAdmissionRule: {
        evaluationMode: 'REQUIRE_ATTESTATION',
        enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
        requireAttestationsBy: ['projects/acme/attestors/pgp'],
      },
      attestors: [
        {
          name: 'projects/acme/attestors/pgp',
          userOwnedGrafeasNote: {
            noteReference: 'projects/acme/notes/pgp',
            publicKeys: keys.map((k) => ({
              ...(k.id === undefined ? {} : { id: k.id }),
              asciiArmoredPgpPublicKey: k.armored,
            })),
          },
        },
      ],
    }),
  );
  const folder = join(dir, 'att', `sha256-${DIGEST.slice(7)}`);
  mkdirSync(folder, { recursive: true });
  attestations.forEach((a, i) =>
    writeFileSync(
      join(folder, `${i}.json`),
      JSON.stringify({
        serializedPayload: Buffer.from(a.payload).toString('base64'),
        signatures: [
          {
            ...(a.publicKeyId === undefined ? {} : { publicKeyId: a.publicKeyId }),
            signature: Buffer.from(a.signature).toString('base64'),
          },
        ],
      }),
    ),
  );
  const res = await cli([
    'verify',
    '--policy',
    join(dir, 'policy.json'),
    '--attestations-dir',
    join(dir, 'att'),
    '--output',
    'json',
    IMAGE,
  ]);
  if (res.code !== ExitCode.OK && res.code !== ExitCode.DENIED_OR_FAILED) t.fail(res.err || res.out);
  return { code: res.code, verdict: verdictOf(res.out), out: res.out };
}

for (const [label, who] of [
  ['RSA', () => rsa],
  ['Ed25519', () => ed],
] as const) {
  test(`${label}: gpg --armor --sign over the payload admits; key id is the fingerprint`, async (t) => {
    const payload = gcloudPayload(NAME, DIGEST);
    const signature = await gpg.sign(who(), payload);
    t.true(signature.toString().startsWith('-----BEGIN PGP MESSAGE-----'));
    const armored = await gpg.exportPublic(who());
    const res = await verify(t, [{ armored, id: who() }], [{ payload, signature, publicKeyId: who() }]);
    t.is(res.code, ExitCode.OK, res.out);
    t.deepEqual(res.verdict.satisfied[0]!.keyIds, [who()]);
  });

  test(`${label}: detached and binary signatures admit; no key id is fine`, async (t) => {
    const payload = gcloudPayload(NAME, DIGEST);
    const armored = await gpg.exportPublic(who());
    for (const options of [{ detach: true }, { armor: false }, { detach: true, armor: false }]) {
      const signature = await gpg.sign(who(), payload, options);
      const res = await verify(t, [{ armored }], [{ payload, signature }]);
      t.is(res.code, ExitCode.OK, `${JSON.stringify(options)}: ${res.out}`);
    }
  });
}

test('a signature by a key the attestor does not hold is denied', async (t) => {
  const payload = gcloudPayload(NAME, DIGEST);
  const signature = await gpg.sign(stranger, payload);
  const armored = await gpg.exportPublic(ed);
  const named = await verify(t, [{ armored }], [{ payload, signature, publicKeyId: stranger }]);
  t.is(named.code, ExitCode.DENIED_OR_FAILED);
  t.is(named.verdict.missing[0]!.reason, 'KEY_UNKNOWN');
  // Claiming the attestor's fingerprint does not help: the signature must verify with that key.
  const claimed = await verify(t, [{ armored }], [{ payload, signature, publicKeyId: ed }]);
  t.is(claimed.code, ExitCode.DENIED_OR_FAILED);
  t.is(claimed.verdict.missing[0]!.reason, 'SIGNATURE_INVALID');
});

test('the payload checked is the one the signed message carries, not serializedPayload', async (t) => {
  // Attack: a valid signed message for another digest, with serializedPayload rewritten to this digest.
  const signature = await gpg.sign(ed, gcloudPayload(NAME, OTHER));
  const armored = await gpg.exportPublic(ed);
  const res = await verify(t, [{ armored }], [{ payload: gcloudPayload(NAME, DIGEST), signature }]);
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  t.is(res.verdict.missing[0]!.reason, 'DIGEST_MISMATCH');
  // A detached signature over another payload does not verify this one.
  const detached = await gpg.sign(ed, gcloudPayload(NAME, OTHER), { detach: true });
  const res2 = await verify(
    t,
    [{ armored }],
    [{ payload: gcloudPayload(NAME, DIGEST), signature: detached }],
  );
  t.is(res2.verdict.missing[0]!.reason, 'SIGNATURE_INVALID');
});

test('a tampered signed message is denied', async (t) => {
  const payload = gcloudPayload(NAME, DIGEST);
  const binary = await gpg.sign(ed, payload, { armor: false });
  const armored = await gpg.exportPublic(ed);
  const tampered = Buffer.from(binary);
  tampered[tampered.length - 5]! ^= 0x01;
  const res = await verify(t, [{ armored }], [{ payload, signature: tampered }]);
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  t.is(res.verdict.missing[0]!.reason, 'SIGNATURE_INVALID');
});

test('an expired key verifies nothing (signed while it was valid)', async (t) => {
  const email = 'expired@example.com';
  const fpr = await gpg.generate(email, 'ed25519', 'sign', '1d', '20200101T000000');
  const payload = gcloudPayload(NAME, DIGEST);
  const signature = await gpg.sign(email, payload, { fakedTime: '20200101T010000' });
  const armored = await gpg.exportPublic(email);
  const res = await verify(t, [{ armored, id: fpr }], [{ payload, signature, publicKeyId: fpr }]);
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  t.is(res.verdict.missing[0]!.reason, 'SIGNATURE_INVALID');
});

test('a revoked key verifies nothing; the same key unrevoked does (control)', async (t) => {
  const email = 'revoked@example.com';
  const fpr = await gpg.generate(email, 'ed25519', 'sign', '0');
  const payload = gcloudPayload(NAME, DIGEST);
  const signature = await gpg.sign(email, payload);
  const before = await gpg.exportPublic(email);
  const ok = await verify(t, [{ armored: before }], [{ payload, signature }]);
  t.is(ok.code, ExitCode.OK, ok.out);
  // gpg writes a revocation certificate at key creation; importing it (without the guard colon) revokes.
  const rev = readFileSync(join(gpg.home, 'openpgp-revocs.d', `${fpr}.rev`), 'utf8').replace(
    /^:-----/m,
    '-----',
  );
  writeFileSync(join(gpg.home, 'rev.asc'), rev);
  await gpg.run(['--import', join(gpg.home, 'rev.asc')]);
  const revoked = await gpg.exportPublic(email);
  const res = await verify(t, [{ armored: revoked }], [{ payload, signature }]);
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  t.is(res.verdict.missing[0]!.reason, 'SIGNATURE_INVALID');
});

test('a signing subkey signs for the attestor key (id = primary fingerprint)', async (t) => {
  const email = 'subkey@example.com';
  const primary = await gpg.generate(email, 'ed25519', 'cert', '0');
  await gpg.run(['--quick-add-key', primary, 'ed25519', 'sign', '0']);
  const sub = (await gpg.fingerprints(email))[1]!;
  const payload = gcloudPayload(NAME, DIGEST);
  const signature = await gpg.sign(`${sub}!`, payload);
  const armored = await gpg.exportPublic(email);
  const res = await verify(t, [{ armored, id: primary }], [{ payload, signature, publicKeyId: primary }]);
  t.is(res.code, ExitCode.OK, res.out);
  t.deepEqual(res.verdict.satisfied[0]!.keyIds, [primary]);
  // An expired signing subkey verifies nothing.
  const email2 = 'subkey-expired@example.com';
  const primary2 = await gpg.generate(email2, 'ed25519', 'cert', '0', '20200101T000000');
  await gpg.run(['--quick-add-key', primary2, 'ed25519', 'sign', '1d'], { fakedTime: '20200101T000100' });
  const sub2 = (await gpg.fingerprints(email2))[1]!;
  const sig2 = await gpg.sign(`${sub2}!`, payload, { fakedTime: '20200101T010000' });
  const res2 = await verify(t, [{ armored: await gpg.exportPublic(email2) }], [{ payload, signature: sig2 }]);
  t.is(res2.code, ExitCode.DENIED_OR_FAILED);
});

test('policy load: the key id must be the fingerprint; private keys and garbage are refused', async (t) => {
  const dir = await tempDir(t);
  const armored = await gpg.exportPublic(ed);
  const secret = (await gpg.run(['--armor', '--export-secret-keys', ed])).toString();
  const cases: [string, object][] = [
    ['wrong id', { id: rsa, asciiArmoredPgpPublicKey: armored }],
    ['private key', { asciiArmoredPgpPublicKey: secret }],
    ['not armored', { asciiArmoredPgpPublicKey: 'hello' }],
    ['bad checksum', { asciiArmoredPgpPublicKey: armored.replace(/\n=.{4}\n/, '\n=AAAA\n') }],
    [
      'both kinds',
      {
        asciiArmoredPgpPublicKey: armored,
        pkixPublicKey: { publicKeyPem: 'x', signatureAlgorithm: 'ED25519' },
      },
    ],
  ];
  for (const [label, key] of cases) {
    const file = join(dir, `${label}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        defaultAdmissionRule: {
          evaluationMode: 'ALWAYS_ALLOW',
          enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
        },
        attestors: [{ name: 'a', userOwnedGrafeasNote: { publicKeys: [key] } }],
      }),
    );
    const res = await cli(['policy', 'check', file]);
    t.is(res.code, ExitCode.INVALID_INPUT, label);
    t.regex(res.err + res.out, /CG_ERR_POLICY_(KEY_INVALID|VALUE)/, label);
  }
  // Lower-case fingerprints (as some tools print them) are the same id.
  const file = join(dir, 'lower.json');
  writeFileSync(
    file,
    JSON.stringify({
      defaultAdmissionRule: {
        evaluationMode: 'ALWAYS_ALLOW',
        enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      },
      attestors: [
        {
          name: 'a',
          userOwnedGrafeasNote: { publicKeys: [{ id: ed.toLowerCase(), asciiArmoredPgpPublicKey: armored }] },
        },
      ],
    }),
  );
  t.is((await cli(['policy', 'check', file])).code, ExitCode.OK);
});

test('the built bundle (dist/criguard.cjs) verifies OpenPGP attestations too', async (t) => {
  const dir = await tempDir(t);
  const payload = gcloudPayload(NAME, DIGEST);
  const folder = join(dir, 'att', `sha256-${DIGEST.slice(7)}`);
  mkdirSync(folder, { recursive: true });
  writeFileSync(
    join(folder, 'a.json'),
    JSON.stringify({
      serializedPayload: payload.toString('base64'),
      signatures: [{ publicKeyId: ed, signature: (await gpg.sign(ed, payload)).toString('base64') }],
    }),
  );
  writeFileSync(
    join(dir, 'policy.json'),
    JSON.stringify({
      defaultAdmissionRule: {
        evaluationMode: 'REQUIRE_ATTESTATION',
        enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
        requireAttestationsBy: ['pgp'],
      },
      attestors: [
        {
          name: 'pgp',
          userOwnedGrafeasNote: { publicKeys: [{ asciiArmoredPgpPublicKey: await gpg.exportPublic(ed) }] },
        },
      ],
    }),
  );
  const res = await criguardCli([
    'verify',
    '--policy',
    join(dir, 'policy.json'),
    '--attestations-dir',
    join(dir, 'att'),
    IMAGE,
  ]);
  t.is(res.code, 0, res.stdout + res.stderr);
});

test('a compressed signed message that inflates past the payload limit verifies nothing', async (t) => {
  // 4 MiB of spaces after a valid payload compress to a few KiB: the attestation file stays small.
  const bomb = Buffer.concat([gcloudPayload(NAME, DIGEST), Buffer.alloc(4 * 1024 * 1024, 0x20)]);
  const signature = await gpg.sign(ed, bomb, { armor: false });
  t.true(signature.length < 64 * 1024, `compressed to ${signature.length} bytes`);
  const res = await verify(
    t,
    [{ armored: await gpg.exportPublic(ed) }],
    [{ payload: gcloudPayload(NAME, DIGEST), signature }],
  );
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  t.is(res.verdict.missing[0]!.reason, 'SIGNATURE_INVALID');
});

test('gpg --clearsign: the clear-signed text is the payload; tampering with it is denied', async (t) => {
  const payload = gcloudPayload(NAME, DIGEST);
  const armored = await gpg.exportPublic(ed);
  const signature = await gpg.sign(ed, payload, { clearsign: true });
  t.true(signature.toString().startsWith('-----BEGIN PGP SIGNED MESSAGE-----'));
  const ok = await verify(t, [{ armored, id: ed }], [{ payload, signature, publicKeyId: ed }]);
  t.is(ok.code, ExitCode.OK, ok.out);
  // Attack: the clear text edited to name another digest (the signature no longer covers it).
  const edited = Buffer.from(signature.toString().replace(DIGEST, OTHER));
  t.not(edited.toString(), signature.toString());
  const tampered = await verify(
    t,
    [{ armored }],
    [{ payload: gcloudPayload(NAME, OTHER), signature: edited }],
  );
  t.is(tampered.code, ExitCode.DENIED_OR_FAILED);
  t.is(tampered.verdict.missing[0]!.reason, 'SIGNATURE_INVALID');
  // A clear-signed payload for another digest does not admit this one, whatever serializedPayload says.
  const other = await gpg.sign(ed, gcloudPayload(NAME, OTHER), { clearsign: true });
  const res = await verify(t, [{ armored }], [{ payload, signature: other }]);
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  t.is(res.verdict.missing[0]!.reason, 'DIGEST_MISMATCH');
  // RSA too (Google's default key type).
  const rsaSigned = await gpg.sign(rsa, payload, { clearsign: true });
  const rsaRes = await verify(
    t,
    [{ armored: await gpg.exportPublic(rsa) }],
    [{ payload, signature: rsaSigned }],
  );
  t.is(rsaRes.code, ExitCode.OK, rsaRes.out);
});
