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
