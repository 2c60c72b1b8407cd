/**
 * gcloud's attestation export (`gcloud container binauthz attestations list --format=json`: a JSON array of
 * occurrences) loads unchanged from the attestation directory, in a digest folder or at its top level.
 * Signatures are made with openssl (PKIX) and Debian's gpg (PGP); the occurrence shell is gcloud's output.
 */
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { cli, tempDir, verdictOf } from '../cli/cli-harness.js';
import { createGpg, gcloudPayload, type Gpg } from '../helpers/gpg.js';

const execFileAsync = promisify(execFile);
const NAME = 'gcr.io/acme/app';
const D1 = `sha256:${'e5'.repeat(32)}`;
const D2 = `sha256:${'f6'.repeat(32)}`;
const D3 = `sha256:${'07'.repeat(32)}`;

let gpg: Gpg;
let fpr: string;

test.before(async () => {
  gpg = createGpg();
  fpr = await gpg.generate('qa@example.com', 'ed25519', 'sign', '0');
});
test.after.always(() => gpg?.dispose());

/** An ECDSA P-256 key made by openssl; returns the key file and its public PEM. */
async function opensslKey(dir: string): Promise<{ key: string; pub: string }> {
  const key = join(dir, 'ec.pem');
  await execFileAsync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  await execFileAsync('openssl', ['ec', '-in', key, '-pubout', '-out', `${key}.pub`]);
  return { key, pub: readFileSync(`${key}.pub`, 'utf8') };
}

async function opensslSign(key: string, payload: Buffer, dir: string): Promise<Buffer> {
  const file = join(dir, 'payload');
  writeFileSync(file, payload);
  await execFileAsync('openssl', ['dgst', '-sha256', '-sign', key, '-out', `${file}.sig`, file]);
  return readFileSync(`${file}.sig`);
}

/** One occurrence as gcloud prints it. */
function occurrence(digest: string, note: string, payload: Buffer, signature: Buffer, keyId: string): object {
  return {
    attestation: {
      serializedPayload: payload.toString('base64'),
      signatures: [{ publicKeyId: keyId, signature: signature.toString('base64') }],
    },
    createTime: '2026-11-30T10:00:00.000000Z',
    kind: 'ATTESTATION',
    name: `projects/acme/occurrences/${digest.slice(7, 15)}-${note}`,
    noteName: `projects/acme/notes/${note}`,
    resourceUri: `https://${NAME}@${digest}`,
    updateTime: '2026-11-30T10:00:00.000000Z',
  };
}

async function setup(t: ExecutionContext) {
  const dir = await tempDir(t);
  const ec = await opensslKey(dir);
  writeFileSync(
    join(dir, 'policy.json'),
    JSON.stringify({
      defaultAdmissionRule: {
        evaluationMode: 'REQUIRE_ATTESTATION',
        enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
        requireAttestationsBy: ['projects/acme/attestors/build', 'projects/acme/attestors/qa'],
      },
      attestors: [
        {
          name: 'projects/acme/attestors/build',
          userOwnedGrafeasNote: {
            publicKeys: [
              {
                id: 'build-key',
                pkixPublicKey: { publicKeyPem: ec.pub, signatureAlgorithm: 'ECDSA_P256_SHA256' },
              },
            ],
          },
        },
        {
          name: 'projects/acme/attestors/qa',
          userOwnedGrafeasNote: {
            publicKeys: [{ id: fpr, asciiArmoredPgpPublicKey: await gpg.exportPublic(fpr) }],
          },
        },
      ],
    }),
  );
  const both = async (digest: string, type?: string) => {
    let payload = gcloudPayload(NAME, digest);
    if (type !== undefined)
      payload = Buffer.from(payload.toString().replace('Google cloud binauthz container signature', type));
    return [
      occurrence(digest, 'build', payload, await opensslSign(ec.key, payload, dir), 'build-key'),
      occurrence(digest, 'qa', payload, await gpg.sign(fpr, payload), fpr),
    ];
  };
  const verify = async (digest: string) => {
    const res = await cli([
      'verify',
      '--policy',
      join(dir, 'policy.json'),
      '--attestations-dir',
      join(dir, 'att'),
      '--output',
      'json',
      `${NAME}@${digest}`,
    ]);
    return {
      code: res.code,
      verdict: verdictOf(res.out),
      out: res.out,
      skipped: (JSON.parse(res.out) as { skipped: unknown[] }).skipped,
    };
  };
  mkdirSync(join(dir, 'att'));
  return { dir, both, verify };
}

test('a gcloud export (JSON array) in the digest folder loads unchanged', async (t) => {
  const { dir, both, verify } = await setup(t);
  mkdirSync(join(dir, 'att', `sha256-${D1.slice(7)}`));
  writeFileSync(
    join(dir, 'att', `sha256-${D1.slice(7)}`, 'export.json'),
    JSON.stringify(await both(D1), null, 2),
  );
  const res = await verify(D1);
  t.is(res.code, ExitCode.OK, res.out);
  t.deepEqual(res.verdict.satisfied.map((s) => s.attestor).sort(), [
    'projects/acme/attestors/build',
    'projects/acme/attestors/qa',
  ]);
});

test('a gcloud export at the directory top level serves each digest its own occurrences', async (t) => {
  const { dir, both, verify } = await setup(t);
  const d2 = await both(D2);
  writeFileSync(join(dir, 'att', 'all.json'), JSON.stringify([...(await both(D1)), d2[0]]));
  t.is((await verify(D1)).code, ExitCode.OK);
  const partial = await verify(D2);
  t.is(partial.code, ExitCode.DENIED_OR_FAILED, 'only the build attestation exists for D2');
  t.deepEqual(
    partial.verdict.missing.map((m) => m.attestor),
    ['projects/acme/attestors/qa'],
  );
  const none = await verify(D3);
  t.is(none.code, ExitCode.DENIED_OR_FAILED);
  t.is(none.verdict.missing.length, 2);
});

test('an occurrence naming another digest in a digest folder is ignored', async (t) => {
  const { dir, both, verify } = await setup(t);
  const folder = join(dir, 'att', `sha256-${D3.slice(7)}`);
  mkdirSync(folder);
  writeFileSync(join(folder, 'export.json'), JSON.stringify(await both(D1)));
  const res = await verify(D3);
  t.is(res.verdict.missing.length, 2);
  t.is(res.verdict.missing[0]!.reason, 'NO_ATTESTATION');
});

test('an export with one invalid element is skipped whole and reported', async (t) => {
  const { dir, both, verify } = await setup(t);
  const all = [...(await both(D1)), { attestation: { serializedPayload: 'e30=', signatures: [] } }];
  writeFileSync(join(dir, 'att', 'bad.json'), JSON.stringify(all));
  const res = await verify(D1);
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  t.is(res.skipped.length, 1);
});

test('payload type: Binary Authorization’s two documented casings and cosign’s are accepted; others are not', async (t) => {
  const { dir, both, verify } = await setup(t);
  for (const [type, ok] of [
    ['google cloud binauthz container signature', true],
    ['GOOGLE CLOUD BINAUTHZ CONTAINER SIGNATURE', false],
    ['cosign container image signature', true],
    ['atomic container signature', false],
    [' Google cloud binauthz container signature', false],
  ] as const) {
    writeFileSync(join(dir, 'att', 'all.json'), JSON.stringify(await both(D1, type)));
    const res = await verify(D1);
    t.is(res.code, ok ? ExitCode.OK : ExitCode.DENIED_OR_FAILED, type);
    if (!ok) t.is(res.verdict.missing[0]!.reason, 'PAYLOAD_TYPE', type);
  }
});
