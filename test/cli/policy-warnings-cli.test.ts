/** `policy check` reports fields without effect; `policy pin-node-images` fails cleanly without containerd. */
import test from 'ava';
import { existsSync } from 'node:fs';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { policyPinNodeImagesCommand } from '../../src/cli/policy-pin-node-images.js';
import { runCli } from '../../src/cli/router.js';
import { cli, tempDir } from './cli-harness.js';

async function pin(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['policy', 'pin-node-images', ...args], [policyPinNodeImagesCommand], {
    stdout: (s) => void out.push(s),
    stderr: (s) => void err.push(s),
    env: {},
  });
  return { code, out: out.join(''), err: err.join('') };
}

test('policy check: a field without effect is a warning with its path; the policy stays valid (exit 0)', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'p.yaml');
  await writeFile(
    file,
    [
      'defaultAdmissionRule:',
      '  evaluationMode: ALWAYS_DENY',
      '  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG',
      '  criguard: {onUndecided: DENY}',
      'clusterAdmissionRules:',
      '  us-east1-a.prod: {evaluationMode: ALWAYS_DENY, enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG}',
      '',
    ].join('\n'),
  );
  const text = await cli(['policy', 'check', file]);
  t.is(text.code, 0, text.err);
  t.regex(text.err, new RegExp(`^warning: ${file}: clusterAdmissionRules: no effect`, 'm'));
  t.regex(
    text.err,
    new RegExp(`^warning: ${file}: defaultAdmissionRule\\.criguard\\.onUndecided: no effect`, 'm'),
  );
  const json = await cli(['policy', 'check', '--output', 'json', '--cluster', 'us-east1-a.prod', file]);
  t.is(json.code, 0);
  const summary = JSON.parse(json.out) as { warnings: { path: string }[]; systemPolicy: unknown };
  t.deepEqual(
    summary.warnings.map((w) => w.path),
    ['defaultAdmissionRule.criguard.onUndecided'],
  );
  t.is(summary.systemPolicy, null);
});

test('policy check of Google’s block-all example: the system policy is enabled, no warnings', async (t) => {
  const result = await cli(['policy', 'check', 'deploy/examples/block-all-but-system.yaml']);
  t.is(result.code, 0, result.err);
  t.regex(result.out, /^system policy: enabled \(built-in version [0-9.]+;/m);
  t.is(result.err, '');
});

test('pin-node-images: usage errors (64), an unreachable containerd or a bad manifest (1), nothing written', async (t) => {
  t.is((await pin(['extra'])).code, 64);
  t.is((await pin(['--output', ''])).code, 64);
  const dir = await tempDir(t);
  const down = await pin(['--containerd-socket', join(dir, 'none.sock'), '--static-pod-dir', dir]);
  t.is(down.code, 1);
  t.regex(down.err, /containerd at .*none\.sock/);
  t.is(down.out, '');
  const missing = await pin(['--static-pod-dir', join(dir, 'absent')]);
  t.is(missing.code, 1);
  t.regex(missing.err, /static pod directory .*absent/);
  await mkdir(join(dir, 'm'));
  await writeFile(join(dir, 'm', 'bad.yaml'), 'kind: Pod\nkind: Pod\n');
  const bad = await pin(['--static-pod-dir', join(dir, 'm'), '--output', join(dir, 'out.yaml')]);
  t.is(bad.code, 1);
  t.regex(bad.err, /bad\.yaml: not a pod manifest/);
  t.false(existsSync(join(dir, 'out.yaml')));
});
