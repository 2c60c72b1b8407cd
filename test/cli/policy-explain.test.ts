import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { cli, tempDir } from './cli-harness.js';

const D = `sha256:${'a'.repeat(64)}`;
const EXAMPLE = 'deploy/examples/keyless-k8s-system-images.yaml';

test('policy check --image: the keyless system-image example, kube-system vs default', async (t) => {
  const sys = await cli([
    'policy',
    'check',
    '--image',
    `registry.k8s.io/kube-proxy@${D}`,
    '--namespace',
    'kube-system',
    EXAMPLE,
  ]);
  t.is(sys.code, ExitCode.OK, sys.err);
  t.regex(sys.out, /rule: +namespace kube-system/);
  t.regex(sys.out, /requires: +kubernetes-release \(keyless\)/);
  const app = await cli([
    'policy',
    'check',
    '--output',
    'json',
    '--image',
    `ghcr.io/acme/shop@${D}`,
    EXAMPLE,
  ]);
  t.like(JSON.parse(app.out), {
    image: {
      outcome: 'requires-attestations',
      rule: { kind: 'default' },
      attestors: [{ name: 'built-by-github-actions', kind: 'keyless' }],
    },
  });
});

test('policy check --image names the image rules an image meets, and decided outcomes', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'policy.yaml');
  await writeFile(
    file,
    JSON.stringify({
      defaultAdmissionRule: {
        evaluationMode: 'ALWAYS_ALLOW',
        enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      },
      admissionWhitelistPatterns: [{ namePattern: 'vendor.example/tools/*' }],
      attestors: [
        { name: 'vendor', criguard: { keyless: { identities: [{ issuer: 'https://i', subject: 's' }] } } },
      ],
      criguard: { imageRules: [{ namePattern: 'vendor.example/**', requireAttestationsBy: ['vendor'] }] },
    }),
  );
  const ruled = await cli(['policy', 'check', '--image', `vendor.example/db/pg@${D}`, file]);
  t.regex(ruled.out, /imageRules: vendor\.example\/\*\*/);
  t.regex(ruled.out, /requires: +vendor \(keyless\)/);
  const listed = await cli(['policy', 'check', '--image', `vendor.example/tools/dbg@${D}`, file]);
  t.regex(listed.out, /decided: +ALLOW ALLOWLISTED/);
  const free = await cli(['policy', 'check', '--image', `other.example/app@${D}`, file]);
  t.regex(free.out, /decided: +ALLOW ALWAYS_ALLOW/);
  t.is((await cli(['policy', 'check', '--image', 'not a ref', file])).code, ExitCode.USAGE);
});

test('policy check --trusted-root: the node root file is checked with the policy, a broken one named (exit 2)', async (t) => {
  const dir = await tempDir(t);
  const root = await import('../../src/verify/keyless/public-good-trusted-root.json', {
    with: { type: 'json' },
  });
  const good = join(dir, 'trusted_root.json');
  await writeFile(good, JSON.stringify(root.default));
  const ok = await cli(['policy', 'check', '--output', 'json', '--trusted-root', good, EXAMPLE]);
  t.is(ok.code, ExitCode.OK, ok.err);
  const builtin = await cli(['policy', 'check', '--output', 'json', EXAMPLE]);
  t.not(
    JSON.parse(ok.out).revision,
    JSON.parse(builtin.out).revision,
    'the file root is part of the revision',
  );

  const bad = join(dir, 'broken.json');
  await writeFile(
    bad,
    '{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", "tlogs": []}',
  );
  const refused = await cli(['policy', 'check', '--trusted-root', bad, EXAMPLE]);
  t.is(refused.code, ExitCode.INVALID_INPUT);
  t.regex(refused.err, new RegExp(`${bad}: \\(root\\): CG_ERR_POLICY_VALUE: CG_ERR_TRUSTED_ROOT_INVALID`));
});
