/**
 * The policy store picks up every change to every policy and attestor file (in-place edits included, even
 * at the same size and mtime) and never blocks on a special file.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  renameSync,
  rmSync,
  statSync,
  chmodSync,
  writeFileSync,
  writeSync,
  ftruncateSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createPolicyStore,
  type PolicyStore,
  type ReloadResult,
} from '../../src/policy-files/policy-store.js';

const POLICY = JSON.stringify({
  defaultAdmissionRule: {
    evaluationMode: 'REQUIRE_ATTESTATION',
    enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
    requireAttestationsBy: ['ci'],
  },
});

function publicPem(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
    type: 'spki',
    format: 'pem',
  }) as string;
}

/** An attestor file for `ci` trusting one key; every key id has the same length, so sizes stay equal. */
function attestorText(keyId: string, pem: string): string {
  return JSON.stringify({
    name: 'ci',
    userOwnedGrafeasNote: {
      publicKeys: [
        { id: keyId, pkixPublicKey: { publicKeyPem: pem, signatureAlgorithm: 'ECDSA_P256_SHA256' } },
      ],
    },
  });
}

function keyIds(store: PolicyStore): string[] {
  return [...(store.current().attestors.get('ci')?.keys ?? [])].map((k) => k.id);
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

interface Setup {
  dir: string;
  policyPath: string;
  attestorsDir: string;
  attestorPath: string;
  store: PolicyStore;
  results: ReloadResult[];
}

async function setup(t: { teardown(fn: () => void): void }): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'cg-policy-store-'));
  const policyPath = join(dir, 'policy.json');
  const attestorsDir = join(dir, 'attestors');
  mkdirSync(attestorsDir);
  writeFileSync(policyPath, POLICY);
  const attestorPath = join(attestorsDir, 'ci.json');
  writeFileSync(attestorPath, attestorText('key-a', publicPem()));
  const results: ReloadResult[] = [];
  const store = await createPolicyStore({
    policyPath,
    attestorsDir,
    pollMs: 25,
    onReload: (r) => results.push(r),
  });
  t.teardown(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, policyPath, attestorsDir, attestorPath, store, results };
}

test('an attestor file rewritten in place (truncate + write, same inode) is picked up', async (t) => {
  const s = await setup(t);
  const ino = statSync(s.attestorPath).ino;
  const fd = openSync(s.attestorPath, 'r+');
  ftruncateSync(fd, 0);
  writeSync(fd, attestorText('key-b', publicPem()), 0);
  closeSync(fd);
  t.is(statSync(s.attestorPath).ino, ino);
  await until('key-b in force', () => keyIds(s.store).includes('key-b'));
  t.deepEqual(keyIds(s.store), ['key-b']);
});

test('an in-place edit of the same size with the mtime put back is picked up (content, not timestamps)', async (t) => {
  const s = await setup(t);
  const before = statSync(s.attestorPath, { bigint: true });
  const dirBefore = statSync(s.attestorsDir, { bigint: true });
  const reference = join(s.dir, 'timestamps');
  execFileSync('cp', ['-p', s.attestorPath, reference]);
  const text = attestorText('key-b', publicPem());
  t.is(BigInt(Buffer.byteLength(text)), before.size, 'same size');
  const fd = openSync(s.attestorPath, 'r+');
  writeSync(fd, text, 0);
  closeSync(fd);
  execFileSync('touch', ['-m', '-r', reference, s.attestorPath]);
  t.is(statSync(s.attestorPath, { bigint: true }).mtimeNs, before.mtimeNs, 'same mtime');
  t.is(statSync(s.attestorsDir, { bigint: true }).mtimeNs, dirBefore.mtimeNs, 'the directory did not change');
  await until('key-b in force', () => keyIds(s.store).includes('key-b'));
  t.deepEqual(keyIds(s.store), ['key-b']);
});

test('cp over the attestor file and an editor-style rename are both picked up', async (t) => {
  const s = await setup(t);
  const other = join(s.dir, 'elsewhere.json');
  writeFileSync(other, attestorText('key-b', publicPem()));
  copyFileSync(other, s.attestorPath);
  await until('key-b in force', () => keyIds(s.store).includes('key-b'));
  const swap = join(s.attestorsDir, '.ci.json.swp');
  writeFileSync(swap, attestorText('key-c', publicPem()));
  renameSync(swap, s.attestorPath);
  await until('key-c in force', () => keyIds(s.store).includes('key-c'));
  t.deepEqual(keyIds(s.store), ['key-c']);
});

test('the policy file edited in place is picked up', async (t) => {
  const s = await setup(t);
  const revision = s.store.current().revision;
  const fd = openSync(s.policyPath, 'r+');
  ftruncateSync(fd, 0);
  writeSync(fd, POLICY.replace('ENFORCED_BLOCK_AND_AUDIT_LOG', 'DRYRUN_AUDIT_LOG_ONLY'), 0);
  closeSync(fd);
  await until('new revision', () => s.store.current().revision !== revision);
  t.is(s.store.current().defaultRule.enforcementMode, 'DRYRUN_AUDIT_LOG_ONLY');
});

test('a FIFO in place of an attestor file fails the reload at once (last good policy kept) and never blocks', async (t) => {
  const s = await setup(t);
  const revision = s.store.current().revision;
  rmSync(s.attestorPath);
  execFileSync('mkfifo', [s.attestorPath]);
  await until('a failed reload', () => s.results.some((r) => r.error !== undefined));
  const failed = s.results.find((r) => r.error !== undefined)!;
  t.regex(failed.error!.message, /not a regular file \(a FIFO\)/);
  t.is(s.store.current().revision, revision);
  // Reported once, not at every period.
  await sleep(200);
  t.is(s.results.filter((r) => r.error !== undefined).length, 1);
  // SIGHUP's path completes too, and a file put back is picked up.
  const forced = await s.store.reload();
  t.truthy(forced.error);
  rmSync(s.attestorPath);
  writeFileSync(s.attestorPath, attestorText('key-b', publicPem()));
  await until('key-b in force', () => keyIds(s.store).includes('key-b'));
  t.pass();
});

test('a FIFO or a device at the policy path refuses start-up at once instead of hanging', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-policy-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fifo = join(dir, 'policy.yaml');
  execFileSync('mkfifo', [fifo]);
  for (const policyPath of [fifo, '/dev/zero']) {
    const error = await t.throwsAsync(
      createPolicyStore({ policyPath, pollMs: 1000, onReload: () => undefined }),
    );
    t.regex(error!.message, /CG_ERR_POLICY_FILE_UNREADABLE.*not a regular file/s);
  }
});

test('a policy caught half-written in place (a valid, weaker prefix) is not applied unless it stays that way', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-policy-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const policyPath = join(dir, 'policy.yaml');
  const attestor = (name: string) =>
    `  - name: ${name}\n    userOwnedGrafeasNote:\n      publicKeys:\n        - id: k\n          pkixPublicKey:\n            signatureAlgorithm: ECDSA_P256_SHA256\n            publicKeyPem: |\n${publicPem()
      .trimEnd()
      .split('\n')
      .map((l) => `              ${l}`)
      .join('\n')}\n`;
  const head = `attestors:\n${attestor('ci')}${attestor('scan')}defaultAdmissionRule:\n  evaluationMode: REQUIRE_ATTESTATION\n  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG\n  requireAttestationsBy:\n`;
  writeFileSync(policyPath, `${head}    - ci\n    - scan\n`);
  let tick = () => undefined as void;
  const store = await createPolicyStore({
    policyPath,
    pollMs: 1000,
    onReload: () => undefined,
    ticker: (fn) => {
      tick = fn;
      return () => undefined;
    },
  });
  t.teardown(() => store.close());
  const required = () => store.current().defaultRule.attestors.map((a) => a.name);
  t.deepEqual(required(), ['ci', 'scan']);

  // An in-place rewrite caught after its first required attestor: a valid policy requiring less.
  writeFileSync(policyPath, `${head}    - ci\n`);
  tick();
  t.deepEqual(required(), ['ci', 'scan'], 'a change seen once is not applied yet');
  writeFileSync(policyPath, `${head}    - ci\n    - scan\n`); // the writer finishes
  tick();
  tick();
  t.deepEqual(required(), ['ci', 'scan'], 'the weaker prefix was never in force');

  // A real change is applied once two reads agree.
  writeFileSync(policyPath, `${head}    - scan\n`);
  tick();
  t.deepEqual(required(), ['ci', 'scan']);
  tick();
  t.deepEqual(required(), ['scan']);
});

test("the daemon's store refuses policy files and directories others can write (they could switch enforcement off)", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-policy-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const policyPath = join(dir, 'policy.json');
  const attestorsDir = join(dir, 'attestors');
  mkdirSync(attestorsDir);
  writeFileSync(policyPath, POLICY);
  const attestorPath = join(attestorsDir, 'ci.json');
  writeFileSync(attestorPath, attestorText('key-a', publicPem()));
  const results: ReloadResult[] = [];
  const options = {
    policyPath,
    attestorsDir,
    requireOwner: 0,
    pollMs: 25,
    onReload: (r: ReloadResult) => results.push(r),
  };

  chmodSync(policyPath, 0o666);
  const refused = await t.throwsAsync(createPolicyStore(options));
  t.regex(refused!.message, /policy\.json: .*unsafe: .*mode 0666/);
  chmodSync(policyPath, 0o644);
  chmodSync(attestorsDir, 0o777);
  t.regex(
    (await t.throwsAsync(createPolicyStore(options)))!.message,
    /attestors: .*unsafe: .*world-writable/,
  );
  chmodSync(attestorsDir, 0o755);

  const store = await createPolicyStore(options);
  t.teardown(() => store.close());
  const revision = store.current().revision;
  // Made group-writable while running, then rewritten by someone else: not applied; the last good stays.
  chmodSync(attestorPath, 0o664);
  writeFileSync(attestorPath, attestorText('key-b', publicPem()));
  await until('the failed reload', () => results.some((r) => r.error !== undefined));
  t.regex(results.find((r) => r.error)!.error!.message, /ci\.json: .*unsafe: .*mode 0664/);
  t.is(store.current().revision, revision);
  t.deepEqual(keyIds(store), ['key-a']);
});
