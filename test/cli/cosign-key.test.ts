import test from 'ava';
import { generateKeyPairSync, randomBytes, scryptSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { cli, tempDir, verdictOf } from './cli-harness.js';

/** Builds a cosign-format encrypted private key the way `cosign generate-key-pair` does. */
function cosignKeyFile(passphrase: string, label = 'ENCRYPTED SIGSTORE PRIVATE KEY') {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = privateKey.export({ type: 'pkcs8', format: 'der' });
  const salt = randomBytes(32);
  const nonce = randomBytes(24);
  const N = 32768;
  const key = scryptSync(passphrase, salt, 32, { N, r: 8, p: 1, maxmem: 256 * N * 8 });
  const ciphertext = nacl.secretbox(new Uint8Array(der), new Uint8Array(nonce), new Uint8Array(key));
  const envelope = {
    kdf: { name: 'scrypt', params: { N, r: 8, p: 1 }, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(ciphertext).toString('base64'),
  };
  const body = Buffer.from(JSON.stringify(envelope))
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  return {
    pem: `-----BEGIN ${label}-----\n${body.trimEnd()}\n-----END ${label}-----\n`,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/**
 * One key file per label, made once: scrypt at cosign's cost (N = 32768, 32 MiB) is the bulk of this file's
 * time, and the tests only read the file (each from its own directory), so they can share it.
 */
const keyFiles = new Map<string | undefined, ReturnType<typeof cosignKeyFile>>();
function sharedKeyFile(label?: string): ReturnType<typeof cosignKeyFile> {
  if (!keyFiles.has(label)) keyFiles.set(label, cosignKeyFile('correct horse', label));
  return keyFiles.get(label)!;
}

const D = `sha256:${'4'.repeat(64)}`;
const IMAGE = `ghcr.io/acme/tool@${D}`;

async function setup(t: Parameters<typeof tempDir>[0], label?: string) {
  const dir = await tempDir(t);
  const { pem, publicPem } = sharedKeyFile(label);
  await writeFile(join(dir, 'cosign.key'), pem);
  await writeFile(
    join(dir, 'policy.json'),
    JSON.stringify({
      defaultAdmissionRule: {
        evaluationMode: 'REQUIRE_ATTESTATION',
        enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
        requireAttestationsBy: ['cosign'],
      },
      attestors: [
        {
          name: 'cosign',
          userOwnedGrafeasNote: {
            publicKeys: [
              { pkixPublicKey: { publicKeyPem: publicPem, signatureAlgorithm: 'ECDSA_P256_SHA256' } },
            ],
          },
        },
      ],
    }),
  );
  const sign = (env: Record<string, string>, ...extra: string[]) =>
    cli(
      ['sign', '--key', join(dir, 'cosign.key'), '--attestations-dir', join(dir, 'att'), ...extra, IMAGE],
      env,
    );
  const verify = () =>
    cli([
      'verify',
      '--policy',
      join(dir, 'policy.json'),
      '--attestations-dir',
      join(dir, 'att'),
      '--output',
      'json',
      IMAGE,
    ]);
  return { dir, sign, verify };
}

for (const label of ['ENCRYPTED SIGSTORE PRIVATE KEY', 'ENCRYPTED COSIGN PRIVATE KEY']) {
  test(`signs with a cosign key (${label}), passphrase from the environment`, async (t) => {
    const { sign, verify } = await setup(t, label);
    const signed = await sign({ CRIGUARD_KEY_PASSPHRASE: 'correct horse' });
    t.is(signed.code, ExitCode.OK, signed.err);
    const res = await verify();
    t.is(res.code, ExitCode.OK, res.out);
    t.like(verdictOf(res.out), { decision: 'allow', reason: 'ATTESTATIONS_SATISFIED' });
    t.regex(verdictOf(res.out).satisfied[0]!.keyIds[0]!, /^ni:\/\/\/sha-256;/);
  });
}

test('the passphrase can come from a file', async (t) => {
  const { dir, sign, verify } = await setup(t);
  await writeFile(join(dir, 'pass'), 'correct horse\n', { mode: 0o600 });
  t.is((await sign({}, '--passphrase-file', join(dir, 'pass'))).code, ExitCode.OK);
  t.is((await verify()).code, ExitCode.OK);
});

test('cosign_wrong_passphrase_fail', async (t) => {
  const { sign } = await setup(t);
  const res = await sign({ CRIGUARD_KEY_PASSPHRASE: 'battery staple' });
  t.is(res.code, ExitCode.INVALID_INPUT);
  t.regex(res.err, /CG_ERR_SIGNING_KEY_PASSPHRASE/);
});

test('cosign_missing_passphrase_fail', async (t) => {
  const { sign } = await setup(t);
  const res = await sign({});
  t.is(res.code, ExitCode.INVALID_INPUT);
  t.regex(res.err, /CG_ERR_SIGNING_KEY_PASSPHRASE/);
});

test('cosign_hostile_kdf_params_fail: scrypt cost is bounded', async (t) => {
  const dir = await tempDir(t);
  const envelope = {
    kdf: { name: 'scrypt', params: { N: 2 ** 30, r: 8, p: 1 }, salt: 'AA==' },
    cipher: { name: 'nacl/secretbox', nonce: Buffer.alloc(24).toString('base64') },
    ciphertext: 'AA==',
  };
  const pem = `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n${Buffer.from(JSON.stringify(envelope)).toString('base64')}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n`;
  await writeFile(join(dir, 'k'), pem);
  const res = await cli(['sign', '--key', join(dir, 'k'), '--attestations-dir', dir, IMAGE], {
    CRIGUARD_KEY_PASSPHRASE: 'x',
  });
  t.is(res.code, ExitCode.INVALID_INPUT);
  t.regex(res.err, /CG_ERR_SIGNING_KEY_INVALID/);
});
