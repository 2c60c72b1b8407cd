import test from 'ava';
import type { ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { cli, tempDir, verdictOf } from './cli-harness.js';

/**
 * Interop with a signer no one here wrote: keys and signatures come from the openssl command line, as
 * Binary Authorization documents for PKIX attestors (`openssl dgst -sha256 -sign key.pem -out sig payload`).
 */
const D = `sha256:${'3'.repeat(64)}`;
const NAME = 'us-docker.pkg.dev/acme/prod/api';
const openssl = (cwd: string, ...args: string[]) =>
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

interface Case {
  readonly name: string;
  readonly algorithm: string;
  readonly genkey: string[];
  readonly sign: string[];
  readonly payload: string;
  readonly withKeyId: boolean;
}

const binauthzPayload = JSON.stringify({
  critical: {
    identity: { 'docker-reference': NAME },
    image: { 'docker-manifest-digest': D },
    type: 'Google cloud binauthz container signature',
  },
});
const cosignPayload = `{"critical":{"identity":{"docker-reference":"${NAME}"},"image":{"docker-manifest-digest":"${D}"},"type":"cosign container image signature"},"optional":null}`;

const cases: Case[] = [
  {
    name: 'ECDSA P-256 (openssl ecparam, Binary Authorization payload)',
    algorithm: 'ECDSA_P256_SHA256',
    genkey: ['ecparam', '-genkey', '-name', 'prime256v1', '-noout', '-out', 'key.pem'],
    sign: ['dgst', '-sha256', '-sign', 'key.pem', '-out', 'sig', 'payload.json'],
    payload: binauthzPayload,
    withKeyId: true,
  },
  {
    name: 'ECDSA P-256 cosign-style signature (no key id, cosign payload)',
    algorithm: 'EC_SIGN_P256_SHA256',
    genkey: ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'key.pem'],
    sign: ['dgst', '-sha256', '-sign', 'key.pem', '-out', 'sig', 'payload.json'],
    payload: cosignPayload,
    withKeyId: false,
  },
  {
    name: 'ECDSA P-384',
    algorithm: 'ECDSA_P384_SHA384',
    genkey: ['ecparam', '-genkey', '-name', 'secp384r1', '-noout', '-out', 'key.pem'],
    sign: ['dgst', '-sha384', '-sign', 'key.pem', '-out', 'sig', 'payload.json'],
    payload: binauthzPayload,
    withKeyId: true,
  },
  {
    name: 'RSA PKCS#1 v1.5 2048',
    algorithm: 'RSA_SIGN_PKCS1_2048_SHA256',
    genkey: ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'key.pem'],
    sign: ['dgst', '-sha256', '-sign', 'key.pem', '-out', 'sig', 'payload.json'],
    payload: binauthzPayload,
    withKeyId: true,
  },
  {
    name: 'RSA-PSS 2048 (salt = digest length, as Cloud KMS)',
    algorithm: 'RSA_PSS_2048_SHA256',
    genkey: ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'key.pem'],
    sign: [
      'dgst',
      '-sha256',
      '-sigopt',
      'rsa_padding_mode:pss',
      '-sigopt',
      'rsa_pss_saltlen:-1',
      '-sign',
      'key.pem',
      '-out',
      'sig',
      'payload.json',
    ],
    payload: binauthzPayload,
    withKeyId: true,
  },
  {
    name: 'RSA-PSS 2048 (openssl default salt length)',
    algorithm: 'RSA_SIGN_PSS_2048_SHA256',
    genkey: ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'key.pem'],
    sign: [
      'dgst',
      '-sha256',
      '-sigopt',
      'rsa_padding_mode:pss',
      '-sign',
      'key.pem',
      '-out',
      'sig',
      'payload.json',
    ],
    payload: binauthzPayload,
    withKeyId: true,
  },
  {
    name: 'Ed25519 (openssl pkeyutl -rawin)',
    algorithm: 'ED25519',
    genkey: ['genpkey', '-algorithm', 'ed25519', '-out', 'key.pem'],
    sign: ['pkeyutl', '-sign', '-rawin', '-inkey', 'key.pem', '-in', 'payload.json', '-out', 'sig'],
    payload: binauthzPayload,
    withKeyId: true,
  },
];

async function runCase(t: ExecutionContext, c: Case, declared = c.algorithm) {
  const dir = await tempDir(t);
  openssl(dir, ...c.genkey);
  openssl(dir, 'pkey', '-in', 'key.pem', '-pubout', '-out', 'pub.pem');
  writeFileSync(join(dir, 'payload.json'), c.payload);
  openssl(dir, ...c.sign);
  const pem = readFileSync(join(dir, 'pub.pem'), 'utf8');
  writeFileSync(
    join(dir, 'policy.json'),
    JSON.stringify({
      defaultAdmissionRule: {
        evaluationMode: 'REQUIRE_ATTESTATION',
        enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
        requireAttestationsBy: ['projects/acme/attestors/openssl'],
      },
      attestors: [
        {
          name: 'projects/acme/attestors/openssl',
          userOwnedGrafeasNote: {
            publicKeys: [
              { id: 'openssl-key', pkixPublicKey: { publicKeyPem: pem, signatureAlgorithm: declared } },
            ],
          },
        },
      ],
    }),
  );
  const folder = join(dir, 'att', `sha256-${D.slice(7)}`);
  mkdirSync(folder, { recursive: true });
  writeFileSync(
    join(folder, 'openssl.json'),
    JSON.stringify({
      serializedPayload: readFileSync(join(dir, 'payload.json')).toString('base64'),
      signatures: [
        {
          ...(c.withKeyId ? { publicKeyId: 'openssl-key' } : {}),
          signature: readFileSync(join(dir, 'sig')).toString('base64'),
        },
      ],
    }),
  );
  return cli([
    'verify',
    '--policy',
    join(dir, 'policy.json'),
    '--attestations-dir',
    join(dir, 'att'),
    '--output',
    'json',
    `${NAME}@${D}`,
  ]);
}

for (const c of cases) {
  test(`openssl interop: ${c.name}`, async (t) => {
    const res = await runCase(t, c);
    t.is(res.code, ExitCode.OK, res.out + res.err);
    t.like(verdictOf(res.out), {
      decision: 'allow',
      reason: 'ATTESTATIONS_SATISFIED',
      satisfied: [{ keyIds: ['openssl-key'] }],
    });
  });
}

test('openssl_p256_declared_as_p384_fail: the configured algorithm must fit the key', async (t) => {
  const res = await runCase(t, cases[0]!, 'ECDSA_P384_SHA384');
  t.is(res.code, ExitCode.INVALID_INPUT);
});

test('openssl_pkcs1_signature_under_pss_config_fail: the algorithm comes from the key config', async (t) => {
  const pkcs1 = cases.find((c) => c.algorithm === 'RSA_SIGN_PKCS1_2048_SHA256')!;
  const res = await runCase(t, pkcs1, 'RSA_PSS_2048_SHA256');
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  t.like(verdictOf(res.out), { decision: 'deny', missing: [{ reason: 'SIGNATURE_INVALID' }] });
});
