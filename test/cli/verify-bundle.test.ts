import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { createSigstoreDeployment, GITHUB_ISSUER } from '../helpers/sigstore-deployment.js';
import { digestOf } from '../verify/fixtures.js';
import { cli, tempDir } from './cli-harness.js';

/**
 * A real Sigstore public-good bundle (a message signature over the 13 bytes "hello, world!", signed on
 * 2022-11-09 by brian@dehamer.com through GitHub's OAuth issuer, logged in Rekor at index 6757503). It is
 * the valid message-signature fixture of the sigstore-js project (Apache-2.0), copied as data.
 */
const REAL = 'test/fixtures/sigstore/public-good-hello-world.sigstore.json';
const REAL_ARTIFACT = 'test/fixtures/sigstore/hello-world.txt';
const REAL_DIGEST = 'sha256:68e656b251e67e8358bef8483ab0d51c6619f3e7a1a9f0e75838d41ff368f728';
const REAL_ID = [
  '--certificate-identity',
  'brian@dehamer.com',
  '--certificate-oidc-issuer',
  'https://github.com/login/oauth',
];

test('the shipped public-good root verifies a real public-good bundle, offline', async (t) => {
  const res = await cli(['verify', '--bundle', REAL, ...REAL_ID, '--artifact', REAL_ARTIFACT, REAL_DIGEST]);
  t.is(res.code, ExitCode.OK, res.out + res.err);
  t.regex(res.out, /^VERIFIED sha256:68e6/);
  t.regex(res.out, /trusted root: builtin:sigstore-public-good/);
});

test('real bundle, wrong identity → exit 1 with the signer named', async (t) => {
  const res = await cli([
    'verify',
    '--bundle',
    REAL,
    '--certificate-identity-regexp',
    'brian@dehamer\\.co',
    '--certificate-oidc-issuer',
    'https://github.com/login/oauth',
    '--artifact',
    REAL_ARTIFACT,
    REAL_DIGEST,
  ]);
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  t.regex(res.out, /NOT VERIFIED IDENTITY_MISMATCH/);
  t.regex(res.out, /signed by brian@dehamer\.com/);
});

test('real bundle, another artifact or digest → exit 1', async (t) => {
  const dir = await tempDir(t);
  const other = join(dir, 'other.txt');
  await writeFile(other, 'hello, world?');
  const wrongFile = await cli(['verify', '--bundle', REAL, ...REAL_ID, '--artifact', other, REAL_DIGEST]);
  t.is(wrongFile.code, ExitCode.DENIED_OR_FAILED);
  t.regex(wrongFile.out, /DIGEST_MISMATCH/);
  const wrongDigest = await cli([
    'verify',
    '--bundle',
    REAL,
    ...REAL_ID,
    '--artifact',
    REAL_ARTIFACT,
    digestOf('x'),
  ]);
  t.is(wrongDigest.code, ExitCode.DENIED_OR_FAILED);
  const noArtifact = await cli(['verify', '--bundle', REAL, ...REAL_ID, REAL_DIGEST]);
  t.is(noArtifact.code, ExitCode.DENIED_OR_FAILED);
  t.regex(noArtifact.out, /--artifact/);
});

test('real bundle against a private trusted root → exit 1 (untrusted CA)', async (t) => {
  const dep = await createSigstoreDeployment();
  const dir = await tempDir(t);
  const root = join(dir, 'trusted_root.json');
  await writeFile(root, JSON.stringify(dep.trustedRoot));
  const res = await cli([
    'verify',
    '--bundle',
    REAL,
    ...REAL_ID,
    '--artifact',
    REAL_ARTIFACT,
    '--trusted-root',
    root,
    REAL_DIGEST,
  ]);
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  t.regex(res.out, /NOT VERIFIED (CERTIFICATE_INVALID|TRANSPARENCY_LOG_INVALID)/);
});

test('a private deployment: DSSE bundle for an image digest, --trusted-root, JSON output', async (t) => {
  const dep = await createSigstoreDeployment();
  const dir = await tempDir(t);
  const root = join(dir, 'trusted_root.json');
  const bundle = join(dir, 'bundle.json');
  const digest = digestOf('image');
  const subject = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
  await writeFile(root, JSON.stringify(dep.trustedRoot));
  await writeFile(bundle, JSON.stringify(await dep.signDsse(digest, { subject, issuer: GITHUB_ISSUER })));
  const args = [
    'verify',
    '--bundle',
    bundle,
    '--trusted-root',
    root,
    '--certificate-oidc-issuer',
    GITHUB_ISSUER,
  ];
  const ok = await cli([...args, '--certificate-identity', subject, '--output', 'json', digest]);
  t.is(ok.code, ExitCode.OK, ok.out + ok.err);
  t.like(JSON.parse(ok.out), { verified: true, predicateType: 'https://sigstore.dev/cosign/sign/v1' });
  const substring = await cli([
    ...args,
    '--certificate-identity-regexp',
    'https://github\\.com/acme/app',
    digest,
  ]);
  t.is(substring.code, ExitCode.DENIED_OR_FAILED);
  const other = await cli([...args, '--certificate-identity', subject, digestOf('other')]);
  t.is(other.code, ExitCode.DENIED_OR_FAILED);
  t.regex(other.out, /DIGEST_MISMATCH/);
  // Without the private root, the shipped public-good root does not know this CA.
  const publicGood = await cli([
    'verify',
    '--bundle',
    bundle,
    '--certificate-oidc-issuer',
    GITHUB_ISSUER,
    '--certificate-identity',
    subject,
    digest,
  ]);
  t.is(publicGood.code, ExitCode.DENIED_OR_FAILED);
});

test('usage and input errors', async (t) => {
  const dir = await tempDir(t);
  const junk = join(dir, 'junk.json');
  await writeFile(junk, '{"mediaType":"nope"}');
  t.is((await cli(['verify', '--bundle', REAL, REAL_DIGEST])).code, ExitCode.USAGE);
  t.is((await cli(['verify', '--bundle', REAL, ...REAL_ID, 'sha256:xyz'])).code, ExitCode.USAGE);
  t.is(
    (
      await cli([
        'verify',
        '--bundle',
        REAL,
        '--certificate-identity-regexp',
        '(',
        '--certificate-oidc-issuer',
        'i',
        REAL_DIGEST,
      ])
    ).code,
    ExitCode.USAGE,
  );
  t.is((await cli(['verify', '--bundle', junk, ...REAL_ID, REAL_DIGEST])).code, ExitCode.INVALID_INPUT);
  t.is(
    (await cli(['verify', '--bundle', join(dir, 'missing'), ...REAL_ID, REAL_DIGEST])).code,
    ExitCode.INVALID_INPUT,
  );
});
