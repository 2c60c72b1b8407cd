/**
 * The node's trusted root file (serve setting `trustedRoot`): the root of keyless attestors with none in
 * the policy, read and watched with the policy; a broken file is a clear error and changes nothing.
 */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bundleFromJSON } from '@sigstore/bundle';
import { PolicyLoadError } from '../../src/policy/errors.js';
import { loadPolicyFiles } from '../../src/policy-files/load-policy-files.js';
import { createPolicyStore } from '../../src/policy-files/policy-store.js';
import type { ReloadResult } from '../../src/policy-files/policy-store.js';
import type { CompiledPolicy } from '../../src/policy/types.js';
import { encodeDssePae } from '../../src/verify/dsse.js';
import { PUBLIC_GOOD_SOURCE } from '../../src/verify/keyless/public-good.js';
import { verifyAttestors } from '../../src/verify/verify-attestations.js';
import { createSigstoreDeployment, GITHUB_ISSUER } from '../helpers/sigstore-deployment.js';
import type { SigstoreDeployment } from '../helpers/sigstore-deployment.js';
import { digestOf } from '../verify/fixtures.js';

const WORKFLOW = 'https://github.com/acme/shop/.github/workflows/release.yml@refs/heads/main';
const D = digestOf('image');
const image = { name: 'registry.example/acme/shop', digest: D };

function policyText(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    defaultAdmissionRule: {
      evaluationMode: 'REQUIRE_ATTESTATION',
      enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      requireAttestationsBy: ['ci'],
    },
    attestors: [
      {
        name: 'ci',
        criguard: { keyless: { identities: [{ issuer: GITHUB_ISSUER, subject: WORKFLOW }] } },
      },
    ],
    ...extra,
  });
}

let dep: SigstoreDeployment;
let other: SigstoreDeployment;
test.before(async () => {
  [dep, other] = await Promise.all([createSigstoreDeployment(), createSigstoreDeployment()]);
});

function files(t: { teardown(fn: () => void): void }, policy = policyText()) {
  const dir = mkdtempSync(join(tmpdir(), 'cg-trusted-root-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const policyPath = join(dir, 'policy.json');
  const rootPath = join(dir, 'trusted_root.json');
  writeFileSync(policyPath, policy);
  writeFileSync(rootPath, JSON.stringify(dep.trustedRoot));
  return { dir, policyPath, rootPath };
}

/** Whether a bundle signed by `signer` satisfies the policy's `ci` attestor. */
async function admits(policy: CompiledPolicy, signer: SigstoreDeployment): Promise<boolean> {
  const bundle = bundleFromJSON(await signer.signDsse(D, { subject: WORKFLOW, issuer: GITHUB_ISSUER }));
  if (bundle.content.$case !== 'dsseEnvelope') throw new Error('DSSE expected');
  const env = bundle.content.dsseEnvelope;
  const record = {
    payload: encodeDssePae(env.payloadType, env.payload),
    signatures: [],
    sigstoreBundle: bundle,
  };
  const [outcome] = await verifyAttestors([policy.attestors.get('ci')!], image, [record], {
    bindDockerReference: false,
  });
  return outcome?.satisfied ?? false;
}

test('trusted_root_file_allow: a keyless attestor without a root uses the node file instead of the built-in one', async (t) => {
  const f = files(t);
  const builtin = await loadPolicyFiles({ policyPath: f.policyPath });
  const node = await loadPolicyFiles({ policyPath: f.policyPath, trustedRootPath: f.rootPath });
  t.is(builtin.attestors.get('ci')?.keyless?.trust.source, PUBLIC_GOOD_SOURCE);
  t.is(node.attestors.get('ci')?.keyless?.trust.source, f.rootPath);
  t.not(node.revision, builtin.revision, 'the root file is part of the revision');
  t.true(await admits(node, dep));
  t.false(await admits(node, other), 'a deployment the file does not trust');
  t.false(await admits(builtin, dep), 'the public-good root does not trust the test deployment');
});

test('trusted_root_file_precedence: a root in the policy (policy-wide or the attestor’s) wins over the node file', async (t) => {
  const policyWide = files(t, policyText({ criguard: { trustedRoot: other.trustedRoot } }));
  const p = await loadPolicyFiles({
    policyPath: policyWide.policyPath,
    trustedRootPath: policyWide.rootPath,
  });
  t.is(p.attestors.get('ci')?.keyless?.trust.source, 'policy criguard.trustedRoot');
  t.true(await admits(p, other));
  t.false(await admits(p, dep));
  const withoutFile = await loadPolicyFiles({ policyPath: policyWide.policyPath });
  t.is(p.revision, withoutFile.revision, 'an unused node root does not change the revision');
});

test('trusted_root_file_invalid_fail: a broken, missing or oversized file refuses the whole policy, naming the file', async (t) => {
  const f = files(t);
  const cases: [string, string | undefined, RegExp][] = [
    ['not json', '{"mediaType": ', /not JSON/],
    [
      'not a root',
      JSON.stringify({ mediaType: 'application/json' }),
      /CG_ERR_TRUSTED_ROOT_INVALID.*mediaType/,
    ],
    ['no CA', JSON.stringify({ ...dep.trustedRoot, certificateAuthorities: [] }), /no certificate authority/],
    ['missing', undefined, /CG_ERR_POLICY_FILE_UNREADABLE/],
    ['too large', `${JSON.stringify(dep.trustedRoot)}${' '.repeat(1024 * 1024)}`, /over 1048576 bytes/],
  ];
  for (const [label, text, message] of cases) {
    const rootPath = join(f.dir, `${label.replace(/ /g, '-')}.json`);
    if (text !== undefined) writeFileSync(rootPath, text);
    const err = await t.throwsAsync(
      loadPolicyFiles({ policyPath: f.policyPath, trustedRootPath: rootPath }),
      {
        instanceOf: PolicyLoadError,
      },
    );
    t.true(
      err.issues.some((i) => i.source === rootPath && message.test(`${i.code} ${i.message}`)),
      label,
    );
  }
});

test('trusted_root_file_reload: a changed file is applied like a policy change; a broken one keeps the last good policy', async (t) => {
  const f = files(t);
  const results: ReloadResult[] = [];
  const store = await createPolicyStore({
    policyPath: f.policyPath,
    trustedRootPath: f.rootPath,
    pollMs: 25,
    onReload: (r) => results.push(r),
  });
  t.teardown(() => store.close());
  const first = store.current();
  t.true(await admits(first, dep));

  writeFileSync(f.rootPath, '{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}');
  const deadline = Date.now() + 10_000;
  while (!results.some((r) => r.error !== undefined) && Date.now() < deadline) await sleep(20);
  const failed = results.find((r) => r.error !== undefined);
  t.regex(failed?.error?.message ?? '', /trusted_root\.json.*CG_ERR_TRUSTED_ROOT_INVALID/s);
  t.is(store.current(), first, 'the last good policy stays');

  writeFileSync(f.rootPath, JSON.stringify(other.trustedRoot));
  while (store.current().revision === first.revision && Date.now() < deadline) await sleep(20);
  t.not(store.current().revision, first.revision);
  t.true(await admits(store.current(), other));
  t.false(await admits(store.current(), dep), 'the rotated-out deployment is no longer trusted');
});
