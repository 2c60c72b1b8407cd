import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { cli, tempDir, verdictOf } from './cli-harness.js';

const D = `sha256:${'1'.repeat(64)}`;
const IMAGE = `registry.example.com/team/app:v1@${D}`;

async function setup(t: ExecutionContext, algorithm = 'ecdsa-p256') {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'attestors'));
  const gen = await cli([
    'keygen',
    '--out',
    join(dir, 'builder'),
    '--algorithm',
    algorithm,
    '--attestor',
    'builder',
  ]);
  t.is(gen.code, ExitCode.OK, gen.err);
  await writeFile(join(dir, 'attestors', 'builder.yaml'), gen.out);
  await writeFile(
    join(dir, 'policy.yaml'),
    [
      'defaultAdmissionRule:',
      '  evaluationMode: REQUIRE_ATTESTATION',
      '  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG',
      '  requireAttestationsBy: [projects/acme/attestors/builder]',
      'kubernetesNamespaceAdmissionRules:',
      '  two:',
      '    evaluationMode: REQUIRE_ATTESTATION',
      '    enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG',
      '    requireAttestationsBy: [builder, scanner]',
      'attestors:',
      '  - name: scanner',
      '    userOwnedGrafeasNote:',
      '      publicKeys:',
      '        - id: scanner-key',
      '          pkixPublicKey:',
      '            signatureAlgorithm: ED25519',
      '            publicKeyPem: |',
      '              -----BEGIN PUBLIC KEY-----',
      '              MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=',
      '              -----END PUBLIC KEY-----',
      '',
    ].join('\n'),
  );
  const verifyArgs = (image = IMAGE, ...extra: string[]) => [
    'verify',
    '--policy',
    join(dir, 'policy.yaml'),
    '--attestors-dir',
    join(dir, 'attestors'),
    '--attestations-dir',
    join(dir, 'att'),
    '--output',
    'json',
    ...extra,
    image,
  ];
  return { dir, verifyArgs };
}

for (const algorithm of ['ecdsa-p256', 'ed25519']) {
  test(`keygen → sign → verify allows (${algorithm})`, async (t) => {
    const { dir, verifyArgs } = await setup(t, algorithm);
    t.is((await stat(join(dir, 'builder.key'))).mode & 0o777, 0o600);
    t.regex(await readFile(join(dir, 'builder.pub'), 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
    const signed = await cli([
      'sign',
      '--key',
      join(dir, 'builder.key'),
      '--attestations-dir',
      join(dir, 'att'),
      IMAGE,
    ]);
    t.is(signed.code, ExitCode.OK, signed.err);
    const res = await cli(verifyArgs());
    t.is(res.code, ExitCode.OK, res.out + res.err);
    t.like(verdictOf(res.out), { decision: 'allow', reason: 'ATTESTATIONS_SATISFIED' });
    const text = await cli(verifyArgs().filter((a) => a !== '--output' && a !== 'json'));
    t.regex(text.out, /^ALLOW ATTESTATIONS_SATISFIED/);
  });
}

test('keygen refuses to overwrite', async (t) => {
  const { dir } = await setup(t);
  const again = await cli(['keygen', '--out', join(dir, 'builder')]);
  t.is(again.code, ExitCode.DENIED_OR_FAILED);
});

test('tampered_payload_fail', async (t) => {
  const { dir, verifyArgs } = await setup(t);
  const signed = await cli([
    'sign',
    '--key',
    join(dir, 'builder.key'),
    '--attestations-dir',
    join(dir, 'att'),
    IMAGE,
  ]);
  const path = signed.out.trim();
  const file = JSON.parse(await readFile(path, 'utf8')) as { serializedPayload: string };
  const payload = Buffer.from(file.serializedPayload, 'base64').toString().replace('team/app', 'team/evil');
  await writeFile(
    path,
    JSON.stringify({ ...file, serializedPayload: Buffer.from(payload).toString('base64') }),
  );
  const res = await cli(verifyArgs());
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  t.like(verdictOf(res.out), {
    decision: 'deny',
    reason: 'ATTESTOR_MISSING',
    missing: [{ reason: 'SIGNATURE_INVALID' }],
  });
});

test('wrong_key_fail', async (t) => {
  const { dir, verifyArgs } = await setup(t);
  await cli(['keygen', '--out', join(dir, 'intruder')]);
  await cli(['sign', '--key', join(dir, 'intruder.key'), '--attestations-dir', join(dir, 'att'), IMAGE]);
  const res = await cli(verifyArgs());
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  t.like(verdictOf(res.out), { decision: 'deny', missing: [{ attestor: 'builder', reason: 'KEY_UNKNOWN' }] });
  const forged = await cli([
    'sign',
    '--key',
    join(dir, 'intruder.key'),
    '--key-id',
    'x',
    '--attestations-dir',
    join(dir, 'att'),
    IMAGE,
  ]);
  t.is(forged.code, ExitCode.OK);
  t.is((await cli(verifyArgs())).code, ExitCode.DENIED_OR_FAILED);
});

test('missing_attestor_fail', async (t) => {
  const { dir, verifyArgs } = await setup(t);
  await cli(['sign', '--key', join(dir, 'builder.key'), '--attestations-dir', join(dir, 'att'), IMAGE]);
  const res = await cli(verifyArgs(IMAGE, '--namespace', 'two'));
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  const v = verdictOf(res.out);
  t.like(v, { decision: 'deny', reason: 'ATTESTOR_MISSING' });
  t.deepEqual(
    v.satisfied.map((s) => s.attestor),
    ['builder'],
  );
  t.deepEqual(
    v.missing.map((m) => m.attestor),
    ['scanner'],
  );
});

test('other_digest_fail: an attestation for one digest does not cover another', async (t) => {
  const { dir, verifyArgs } = await setup(t);
  await cli(['sign', '--key', join(dir, 'builder.key'), '--attestations-dir', join(dir, 'att'), IMAGE]);
  const other = `registry.example.com/team/app@sha256:${'2'.repeat(64)}`;
  const res = await cli(verifyArgs(other));
  t.is(res.code, ExitCode.DENIED_OR_FAILED);
  t.like(verdictOf(res.out), { missing: [{ reason: 'NO_ATTESTATION' }] });
  // Copying the file into the other digest's folder does not help: the payload names the first digest.
  const src = join(dir, 'att', `sha256-${'1'.repeat(64)}`);
  const dst = join(dir, 'att', `sha256-${'2'.repeat(64)}`);
  await mkdir(dst);
  for (const f of await readdir(src)) await writeFile(join(dst, f), await readFile(join(src, f)));
  t.like(verdictOf((await cli(verifyArgs(other))).out), { missing: [{ reason: 'DIGEST_MISMATCH' }] });
});

test('policy check: 0 when valid, 2 with every issue otherwise', async (t) => {
  const { dir } = await setup(t);
  const ok = await cli([
    'policy',
    'check',
    '--attestors-dir',
    join(dir, 'attestors'),
    join(dir, 'policy.yaml'),
  ]);
  t.is(ok.code, ExitCode.OK, ok.err);
  t.regex(ok.out, /revision: sha256:/);
  await writeFile(join(dir, 'bad.yaml'), 'defaultAdmissionRule:\n  evaluationMode: NEVER\nextra: 1\n');
  const bad = await cli(['policy', 'check', '--output', 'json', join(dir, 'bad.yaml')]);
  t.is(bad.code, ExitCode.INVALID_INPUT);
  const issues = (JSON.parse(bad.out) as { issues: { path: string; code: string }[] }).issues;
  t.deepEqual(issues.map((i) => `${i.path} ${i.code}`).sort(), [
    'defaultAdmissionRule.enforcementMode CG_ERR_POLICY_REQUIRED',
    'defaultAdmissionRule.evaluationMode CG_ERR_POLICY_ENUM',
    'extra CG_ERR_POLICY_UNKNOWN_FIELD',
  ]);
  const text = await cli(['policy', 'check', join(dir, 'bad.yaml')]);
  t.is(text.code, ExitCode.INVALID_INPUT);
  t.is((await cli(['policy', 'check', join(dir, 'missing.yaml')])).code, ExitCode.INVALID_INPUT);
  const verify = await cli(['verify', '--policy', join(dir, 'bad.yaml'), '--attestations-dir', dir, IMAGE]);
  t.is(verify.code, ExitCode.INVALID_INPUT);
});

const usage: [string, string[]][] = [
  ['verify_without_policy_fail', ['verify', '--attestations-dir', '/tmp', IMAGE]],
  ['verify_online_and_offline_fail', ['verify', '--policy', 'p', '--online', '--offline', 'nginx:1']],
  [
    'verify_bad_output_fail',
    ['verify', '--policy', 'p', '--attestations-dir', '/tmp', '--output', 'xml', IMAGE],
  ],
  [
    'sign_unknown_option_fail',
    ['sign', '--key', 'k', '--attestations-dir', '/tmp', '--passphrase', 'secret', IMAGE],
  ],
  ['sign_two_images_fail', ['sign', '--key', 'k', '--attestations-dir', '/tmp', IMAGE, IMAGE]],
  ['keygen_bad_algorithm_fail', ['keygen', '--out', '/tmp/x', '--algorithm', 'rsa']],
  ['keygen_without_out_fail', ['keygen']],
  ['policy_check_without_file_fail', ['policy', 'check']],
];
for (const [name, argv] of usage) {
  test(name, async (t) => t.is((await cli(argv)).code, ExitCode.USAGE));
}
