/**
 * Interop of `criguard sign --push` with cosign's format, checked with independent tools: the signature
 * manifest is read back with skopeo, the signature verified over the payload bytes with openssl, and the
 * whole layer checked by containers/image's own code: its sigstore payload parser (Debian's source of
 * containers/image 5.23.1) after the signature check its VerifySigstorePayload makes
 * (test/interop/containers-image-verifier). Debian's skopeo cannot verify sigstore signatures itself: its
 * containers/image has VerifySigstorePayload replaced by "Debian-local change: sigstore disabled".
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID, scryptSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import nacl from 'tweetnacl';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { cli } from '../cli/cli-harness.js';
import { buildContainersImageVerifier, type ContainersImageVerifier } from '../helpers/containers-image.js';
import { pushImage } from '../helpers/images.js';
import { pushKeylessSig } from '../helpers/sigstore-push.js';
import { startRegistry, type Registry } from '../helpers/registry.js';

const execFileAsync = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'cg-interop-'));
let registry: Registry;
let containersImage: ContainersImageVerifier;

test.before(async () => {
  [registry, containersImage] = await Promise.all([startRegistry(), buildContainersImageVerifier(work)]);
});
test.after.always(async () => {
  await registry?.dispose();
  rmSync(work, { recursive: true, force: true });
});

interface SigLayer {
  mediaType: string;
  digest: string;
  annotations: Record<string, string>;
}

/** Reads `sha256-<hex>.sig` with skopeo and the payload blob; returns the layers and payload bytes. */
async function readPushed(
  repository: string,
  digest: string,
): Promise<{ layers: SigLayer[]; payloads: Buffer[] }> {
  const tag = `${digest.replace(':', '-')}.sig`;
  const { stdout } = await execFileAsync('skopeo', [
    'inspect',
    '--raw',
    '--tls-verify=false',
    `docker://${registry.host}/${repository}:${tag}`,
  ]);
  const manifest = JSON.parse(stdout) as { layers: SigLayer[] };
  const payloads = await Promise.all(
    manifest.layers.map(async (l) =>
      Buffer.from(await (await fetch(`${registry.url}/v2/${repository}/blobs/${l.digest}`)).arrayBuffer()),
    ),
  );
  return { layers: manifest.layers, payloads };
}

/** openssl verifies `signature` over `payload` with the PEM public key (SHA-256 for ECDSA, raw for Ed25519). */
async function opensslVerifies(
  pub: string,
  payload: Buffer,
  signature: Buffer,
  ed25519: boolean,
): Promise<boolean> {
  const dir = mkdtempSync(join(work, 'ossl-'));
  writeFileSync(join(dir, 'payload'), payload);
  writeFileSync(join(dir, 'sig'), signature);
  const args = ed25519
    ? [
        'pkeyutl',
        '-verify',
        '-pubin',
        '-inkey',
        pub,
        '-rawin',
        '-in',
        join(dir, 'payload'),
        '-sigfile',
        join(dir, 'sig'),
      ]
    : ['dgst', '-sha256', '-verify', pub, '-signature', join(dir, 'sig'), join(dir, 'payload')];
  try {
    await execFileAsync('openssl', args);
    return true;
  } catch {
    return false;
  }
}

/** containers/image's strict parse of a sigstore payload (untrustedSigstorePayload): exact key sets. */
function containersImageAccepts(payload: Buffer, reference: string, digest: string): boolean {
  const doc = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
  const keys = (o: unknown) =>
    Object.keys(o as object)
      .sort()
      .join(',');
  const optional = doc.optional;
  if (keys(doc) !== 'critical,optional') return false;
  if (optional !== null && (typeof optional !== 'object' || Array.isArray(optional))) return false;
  const critical = doc.critical as {
    identity: Record<string, unknown>;
    image: Record<string, unknown>;
    type: unknown;
  };
  if (keys(critical) !== 'identity,image,type') return false;
  if (critical.type !== 'cosign container image signature') return false;
  if (
    keys(critical.image) !== 'docker-manifest-digest' ||
    critical.image['docker-manifest-digest'] !== digest
  )
    return false;
  return (
    keys(critical.identity) === 'docker-reference' && critical.identity['docker-reference'] === reference
  );
}

for (const algorithm of ['ecdsa-p256', 'ed25519'] as const) {
  test.serial(
    `sign --push writes cosign's payload, accepted by containers/image and openssl (${algorithm})`,
    async (t) => {
      const key = join(work, `${algorithm}-${randomUUID()}`);
      t.is((await cli(['keygen', '--out', key, '--algorithm', algorithm])).code, ExitCode.OK);
      const image = await pushImage(registry, { variant: `signed-${randomUUID()}` });
      const res = await cli(['sign', '--key', `${key}.key`, '--push', image.digestRef]);
      t.is(res.code, ExitCode.OK, res.err);

      const { layers, payloads } = await readPushed(image.name, image.digest);
      t.is(layers.length, 1);
      t.is(layers[0]!.mediaType, 'application/vnd.dev.cosign.simplesigning.v1+json');
      const signature = Buffer.from(layers[0]!.annotations['dev.cosignproject.cosign/signature']!, 'base64');
      t.true(await opensslVerifies(`${key}.pub`, payloads[0]!, signature, algorithm === 'ed25519'));
      t.false(
        await opensslVerifies(
          `${key}.pub`,
          Buffer.concat([payloads[0]!, Buffer.from(' ')]),
          signature,
          algorithm === 'ed25519',
        ),
        'control: openssl rejects other bytes',
      );
      t.true(
        containersImageAccepts(payloads[0]!, `${image.host}/${image.name}`, image.digest),
        payloads[0]!.toString(),
      );
      const pub = readFileSync(`${key}.pub`, 'utf8');
      const b64 = layers[0]!.annotations['dev.cosignproject.cosign/signature']!;
      const reference = `${image.host}/${image.name}`;
      const verdict = await containersImage(pub, payloads[0]!, b64, reference, image.digest);
      t.true(verdict.accepted, verdict.output);
      const tampered = Buffer.from(payloads[0]!.toString().replace(image.digest, `sha256:${'0'.repeat(64)}`));
      const control = await containersImage(pub, tampered, b64, reference, image.digest);
      t.false(control.accepted, 'control: containers/image refuses a payload the signature does not cover');
    },
  );
}

test.serial('the attestation directory keeps Binary Authorization’s payload type', async (t) => {
  const key = join(work, `dir-${randomUUID()}`);
  t.is((await cli(['keygen', '--out', key])).code, ExitCode.OK);
  const image = await pushImage(registry, { variant: `dir-${randomUUID()}` });
  const dir = join(work, `att-${randomUUID()}`);
  const res = await cli([
    'sign',
    '--key',
    `${key}.key`,
    '--push',
    '--attestations-dir',
    dir,
    image.digestRef,
  ]);
  t.is(res.code, ExitCode.OK, res.err);
  const folder = join(dir, `sha256-${image.digest.slice('sha256:'.length)}`);
  const file = JSON.parse(readFileSync(join(folder, readdirSync(folder)[0]!), 'utf8')) as {
    serializedPayload: string;
  };
  const local = Buffer.from(file.serializedPayload, 'base64');
  t.is(
    (JSON.parse(local.toString()) as { critical: { type: string } }).critical.type,
    'Google cloud binauthz container signature',
  );
  t.false(
    containersImageAccepts(local, `${image.host}/${image.name}`, image.digest),
    'control: the check can fail',
  );
  const { payloads } = await readPushed(image.name, image.digest);
  t.true(containersImageAccepts(payloads[0]!, `${image.host}/${image.name}`, image.digest));
  // containers/image itself refuses Binary Authorization's payload although the signature is valid: the
  // reason the registry copy uses cosign's (issue 9).
  const signed = JSON.parse(readFileSync(join(folder, readdirSync(folder)[0]!), 'utf8')) as {
    signatures: { signature: string }[];
  };
  const verdict = await containersImage(
    readFileSync(`${key}.pub`, 'utf8'),
    local,
    signed.signatures[0]!.signature,
    `${image.host}/${image.name}`,
    image.digest,
  );
  t.false(verdict.accepted);
  t.regex(verdict.output, /Key "optional" missing in a JSON object|Unrecognized signature type/);
  t.log(verdict.output);
});

test.serial('COSIGN_PASSWORD decrypts a cosign key as cosign reads it (set, even empty)', async (t) => {
  const image = await pushImage(registry, { variant: `pw-${randomUUID()}` });
  for (const password of ['correct horse', '']) {
    const { pem, publicPem } = cosignKeyFile(password);
    const keyFile = join(work, `cosign-${randomUUID()}.key`);
    writeFileSync(keyFile, pem);
    const pub = `${keyFile}.pub`;
    writeFileSync(pub, publicPem);
    const res = await cli(['sign', '--key', keyFile, '--push', image.digestRef], {
      COSIGN_PASSWORD: password,
    });
    t.is(res.code, ExitCode.OK, res.err);
    const { layers, payloads } = await readPushed(image.name, image.digest);
    const verdict = await containersImage(
      publicPem,
      payloads.at(-1)!,
      layers.at(-1)!.annotations['dev.cosignproject.cosign/signature']!,
      `${image.host}/${image.name}`,
      image.digest,
    );
    t.true(verdict.accepted, `a cosign-format key's signature, read by containers/image: ${verdict.output}`);
    const wrong = await cli(['sign', '--key', keyFile, '--push', image.digestRef], {
      COSIGN_PASSWORD: `${password}x`,
    });
    t.is(wrong.code, ExitCode.INVALID_INPUT);
    // CRIGUARD_KEY_PASSPHRASE wins over COSIGN_PASSWORD.
    const both = await cli(['sign', '--key', keyFile, '--push', image.digestRef], {
      CRIGUARD_KEY_PASSPHRASE: 'nope',
      COSIGN_PASSWORD: password,
    });
    t.is(both.code, ExitCode.INVALID_INPUT);
  }
  const unset = await cli(
    [
      'sign',
      '--key',
      join(
        work,
        readdirSync(work).find((f) => f.startsWith('cosign-'))!,
      ),
      '--push',
      image.digestRef,
    ],
    {},
  );
  t.is(unset.code, ExitCode.INVALID_INPUT, 'no variable: no passphrase');
});

test.serial('a signature made by containers/image (its payload, as skopeo signs) is admitted', async (t) => {
  const key = join(work, `ci-${randomUUID()}`);
  t.is((await cli(['keygen', '--out', key])).code, ExitCode.OK);
  const image = await pushImage(registry, { variant: `ci-signed-${randomUUID()}` });
  const reference = `${image.host}/${image.name}`;
  const { payload, signature } = await containersImage.sign(`${key}.key`, reference, image.digest);
  const doc = JSON.parse(payload.toString()) as { critical: { type: string }; optional: { creator: string } };
  t.is(doc.critical.type, 'cosign container image signature');
  t.regex(doc.optional.creator, /^containers\/image /, 'containers/image wrote the payload');
  await pushKeylessSig(registry, image.name, image.digest, payload, {
    'dev.cosignproject.cosign/signature': signature,
  });
  const policy = (pem: string) => {
    const file = join(work, `policy-${randomUUID()}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        defaultAdmissionRule: {
          evaluationMode: 'REQUIRE_ATTESTATION',
          enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
          requireAttestationsBy: ['projects/p/attestors/ci'],
        },
        attestors: [
          {
            name: 'projects/p/attestors/ci',
            userOwnedGrafeasNote: {
              publicKeys: [
                { id: 'ci', pkixPublicKey: { publicKeyPem: pem, signatureAlgorithm: 'ECDSA_P256_SHA256' } },
              ],
            },
          },
        ],
      }),
    );
    return file;
  };
  const ok = await cli(['verify', '--policy', policy(readFileSync(`${key}.pub`, 'utf8')), image.ref]);
  t.is(ok.code, ExitCode.OK, ok.out + ok.err);
  t.regex(ok.out, /^ALLOW ATTESTATIONS_SATISFIED/);
  const other = join(work, `other-${randomUUID()}`);
  t.is((await cli(['keygen', '--out', other])).code, ExitCode.OK);
  const denied = await cli(['verify', '--policy', policy(readFileSync(`${other}.pub`, 'utf8')), image.ref]);
  t.is(denied.code, ExitCode.DENIED_OR_FAILED, 'control: another key does not verify it');
});

/** A cosign-format encrypted private key, as `cosign generate-key-pair` writes it. */
function cosignKeyFile(passphrase: string): { pem: string; publicPem: string } {
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
  const label = 'ENCRYPTED SIGSTORE PRIVATE KEY';
  return {
    pem: `-----BEGIN ${label}-----\n${body.trimEnd()}\n-----END ${label}-----\n`,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}
