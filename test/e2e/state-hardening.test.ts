/**
 * Files and state an operator, a tenant or a registry can change, against the real daemon, containerd and
 * registry: a key revoked by editing the attestor file in place; forged persisted verdicts in a
 * world-writable state directory; a signature deleted from the registry.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import { createCriClient } from '../helpers/cri-client.js';
import { startCriguard, type Criguard } from '../helpers/criguard.js';
import { waitFor } from '../helpers/daemon.js';
import { pushImage, type PushedImage } from '../helpers/images.js';
import { labReady, podSandboxConfig, useLab } from '../helpers/lab.js';
import { attestor, criguardCli, keygen, writePolicy, type SigningKey } from '../helpers/signing.js';

const lab = useLab(test);
const work = mkdtempSync(join(tmpdir(), 'cg-state-'));
let keyA: SigningKey;
let keyB: SigningKey;

test.before(async () => {
  // Same curve, same id length: attestor files for either key have the same size.
  [keyA, keyB] = await Promise.all([keygen(work, 'ci-1'), keygen(work, 'ci-2')]);
  await labReady(lab);
});
test.after.always(() => rmSync(work, { recursive: true, force: true }));

const REQUIRE_CI = {
  defaultAdmissionRule: {
    evaluationMode: 'REQUIRE_ATTESTATION',
    enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
    requireAttestationsBy: ['ci'],
  },
};

async function signAndPush(key: SigningKey, image: PushedImage): Promise<void> {
  const out = await criguardCli(['sign', '--key', key.keyFile, '--push', image.digestRef]);
  if (out.code !== 0) throw new Error(out.stderr);
}

/** PullImage through criguard: undefined when admitted, else the kubelet-visible message. */
async function pull(criguard: Criguard, image: string): Promise<string | undefined> {
  const cri = createCriClient(criguard.socket, { deadlineMs: 60_000 });
  try {
    await cri.pullImage({ image: { image }, sandbox_config: podSandboxConfig(lab(), 'default') });
    return undefined;
  } catch (err) {
    return (err as ServiceError).details;
  } finally {
    cri.close();
  }
}

async function start(dir: string, extraArgs: string[] = []): Promise<Criguard> {
  return startCriguard({
    upstream: lab().containerd.socket,
    extraArgs: [
      '--policy',
      join(dir, 'policy.json'),
      '--state-dir',
      join(dir, 'state'),
      '--audit-log',
      join(dir, 'audit.log'),
      ...extraArgs,
    ],
  });
}

test.serial(
  'a key revoked by editing the attestor file in place (same size, same mtime) denies new pulls within seconds',
  async (t) => {
    const dir = mkdtempSync(join(work, 'revoke-'));
    writePolicy(join(dir, 'policy.json'), REQUIRE_CI);
    const attestors = join(dir, 'attestors');
    mkdirSync(attestors);
    const file = join(attestors, 'ci.json');
    writeFileSync(file, JSON.stringify(attestor('ci', [keyA])));
    const image = await pushImage(lab().registry, { variant: `revoke-${randomUUID()}` });
    await signAndPush(keyA, image);
    const criguard = await start(dir, ['--attestors-dir', attestors]);
    t.teardown(() => criguard.dispose());
    t.is(await pull(criguard, image.ref), undefined, 'signed by the trusted key: admitted');

    // Revoke: the operator rewrites the file in place (same inode); size and mtime end up unchanged.
    const before = statSync(file, { bigint: true });
    execFileSync('cp', ['-p', file, join(dir, 'timestamps')]);
    const revoked = JSON.stringify(attestor('ci', [keyB]));
    t.is(BigInt(Buffer.byteLength(revoked)), before.size);
    writeFileSync(file, revoked);
    execFileSync('touch', ['-m', '-r', join(dir, 'timestamps'), file]);
    t.is(statSync(file, { bigint: true }).ino, before.ino);
    t.is(statSync(file, { bigint: true }).mtimeNs, before.mtimeNs);

    let message: string | undefined;
    await waitFor(
      'a new pull of the image signed by the revoked key denied',
      async () => (message = await pull(criguard, image.ref)) !== undefined,
      { daemon: criguard.daemon, timeoutMs: 15_000, intervalMs: 250 },
    );
    t.regex(message ?? '', /^SignatureValidationFailed: /);
  },
);

/**
 * Rewrites the persisted verdict for `from` into one for `to`, keeping the file valid for whatever
 * integrity check the format carries: a plain sha256 (criguard 0.1), or an HMAC under the key in the
 * state directory (which a tenant with write access to a world-writable directory could replace).
 */
function forgeVerdict(state: string, from: PushedImage, to: PushedImage): void {
  const path = join(state, 'verdicts.json');
  const file = JSON.parse(readFileSync(path, 'utf8')) as {
    sha256?: string;
    mac?: string;
    entries: Array<{ key: string }>;
  };
  const entry = file.entries.find((e) => e.key.endsWith(`|${from.host}/${from.name}|${from.digest}`));
  if (!entry) throw new Error(`no persisted verdict for ${from.digestRef}: ${JSON.stringify(file.entries)}`);
  entry.key = entry.key.replace(
    `|${from.host}/${from.name}|${from.digest}`,
    `|${to.host}/${to.name}|${to.digest}`,
  );
  const text = JSON.stringify(file.entries);
  if (file.sha256 !== undefined) file.sha256 = createHash('sha256').update(text).digest('hex');
  if (file.mac !== undefined) {
    const key = readFileSync(join(state, 'verdicts.key'));
    file.mac = createHmac('sha256', key).update(text).digest('hex');
  }
  writeFileSync(path, JSON.stringify(file));
}

test.serial(
  'a forged allow for an unsigned digest in a world-writable state directory is not honoured; the daemon runs on',
  async (t) => {
    const dir = mkdtempSync(join(work, 'forge-'));
    writePolicy(join(dir, 'policy.json'), { ...REQUIRE_CI, attestors: [attestor('ci', [keyA])] });
    const signed = await pushImage(lab().registry, {
      name: 'criguard-test/signed',
      variant: `s-${randomUUID()}`,
    });
    const unsigned = await pushImage(lab().registry, {
      name: 'criguard-test/unsigned',
      variant: `u-${randomUUID()}`,
    });
    await signAndPush(keyA, signed);
    const first = await start(dir);
    t.is(await pull(first, signed.ref), undefined);
    await first.stop();
    await first.dispose();

    // A legitimate restart keeps the verdict (the state directory is private).
    const second = await start(dir);
    t.regex(readFileSync(second.logFile, 'utf8'), /"verdicts":[1-9]/);
    await second.dispose();

    const state = join(dir, 'state');
    chmodSync(state, 0o777);
    forgeVerdict(state, signed, unsigned);
    const third = await start(dir);
    t.teardown(() => third.dispose());
    const message = await pull(third, unsigned.ref);
    t.regex(message ?? 'admitted', /^SignatureValidationFailed: /, 'the forged allow was honoured');
    const log = readFileSync(third.logFile, 'utf8');
    t.regex(log, /state directory unsafe/);
    const metrics = await (await fetch(`${third.metricsUrl}/metrics`)).text();
    t.regex(metrics, /criguard_state_rejected_total\{file="stateDir"\} [1-9]/);
    t.is(await pull(third, signed.ref), undefined, 'still decides: the signed image verifies afresh');
  },
);

/** Deletes the cosign signature manifest (`sha256-<hex>.sig`) of `image` from the lab's registry. */
async function deleteSignature(image: PushedImage): Promise<void> {
  const base = `http://${image.host}/v2/${image.name}/manifests`;
  const tag = `${image.digest.replace(':', '-')}.sig`;
  const head = await fetch(`${base}/${tag}`, {
    method: 'HEAD',
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  const digest = head.headers.get('docker-content-digest');
  if (!head.ok || !digest) throw new Error(`no signature manifest for ${image.digestRef}: ${head.status}`);
  const deleted = await fetch(`${base}/${digest}`, { method: 'DELETE' });
  if (deleted.status !== 202) throw new Error(`DELETE ${digest}: ${deleted.status}`);
  const gone = await fetch(`${base}/${tag}`, { method: 'HEAD' });
  if (gone.status !== 404) throw new Error(`the signature tag still answers ${gone.status}`);
}

test.serial(
  'a signature deleted from a registry that serves the image stops admitting; the on-disk copy is withdrawn',
  async (t) => {
    const dir = mkdtempSync(join(work, 'deleted-'));
    writePolicy(join(dir, 'policy.json'), { ...REQUIRE_CI, attestors: [attestor('ci', [keyA])] });
    // No verdict reuse, so every pull asks for evidence (as after the allow TTL, a restart or a policy edit).
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ cache: { allowTtlSeconds: 0 } }));
    const image = await pushImage(lab().registry, { variant: `deleted-${randomUUID()}` });
    await signAndPush(keyA, image);
    const criguard = await start(dir, ['--config', join(dir, 'config.json')]);
    t.teardown(() => criguard.dispose());
    t.is(await pull(criguard, image.ref), undefined, 'signed: admitted');
    t.is(await pull(criguard, image.ref), undefined, 'and again');

    await deleteSignature(image);
    const message = await pull(criguard, image.ref);
    t.regex(message ?? 'admitted from the on-disk cache', /^SignatureValidationFailed: /);
    t.regex(readFileSync(criguard.logFile, 'utf8'), /"event":"withdrawn"/);
  },
);
