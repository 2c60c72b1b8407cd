/**
 * The packaged binary (scripts/package.mjs) through the real-containerd flow, with no `node` anywhere on its
 * PATH: `criguard keygen`, `criguard sign --push` and `criguard serve --policy` all run from the single-file
 * executable, and a pod is driven through its socket: a signed image pulled, created, started and running;
 * an unsigned one denied at PullImage the way the kubelet reports it.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  accessSync,
  constants,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import type { ServiceError } from '@grpc/grpc-js';
import { parse as parseYaml } from 'yaml';
import { createCriClient, type CriClient, type PodSandboxConfig } from '../helpers/cri-client.js';
import { startCriguard, type Criguard } from '../helpers/criguard.js';
import { pushImage, type PushedImage } from '../helpers/images.js';
import { labReady, podSandboxConfig, useLab } from '../helpers/lab.js';
import { readAudit, writePolicy } from '../helpers/signing.js';
import { packagedBinary } from '../helpers/sea.js';

const execFileAsync = promisify(execFile);
const lab = useLab(test);
const work = mkdtempSync(join(tmpdir(), 'cgsea-'));
const auditLog = join(work, 'audit.jsonl');
/** An empty directory: the only thing on the binary's PATH (serve, keygen and sign need no other program). */
const emptyBin = join(work, 'bin');
mkdirSync(emptyBin);
const env: NodeJS.ProcessEnv = { PATH: emptyBin, HOME: work, LANG: 'C.UTF-8' };
let sea: string;
let criguard: Criguard;
let cri: CriClient;
let signed: PushedImage;
let unsigned: PushedImage;

/** Runs the packaged binary with `env`; rejects with its stderr on a non-zero exit. */
async function seaCli(args: string[]): Promise<string> {
  try {
    return (await execFileAsync(sea, args, { env, cwd: work, encoding: 'utf8' })).stdout;
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    throw new Error(`criguard ${args[0]} exited ${e.code}: ${e.stderr}`);
  }
}

test.before(async () => {
  sea = (await packagedBinary()).path;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, 'node'), constants.X_OK);
      throw new Error(`node is on the test PATH (${dir})`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  // keygen prints the attestor definition for the policy.
  const attestors = parseYaml(
    await seaCli(['keygen', '--out', join(work, 'ci'), '--attestor', 'ci']),
  ) as object[];
  writePolicy(join(work, 'policy.json'), {
    defaultAdmissionRule: {
      evaluationMode: 'REQUIRE_ATTESTATION',
      enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      requireAttestationsBy: ['ci'],
    },
    attestors,
  });
  await labReady(lab);
  [signed, unsigned] = await Promise.all([
    pushImage(lab().registry, { name: 'sea/app', tag: 'signed', variant: `signed-${randomUUID()}` }),
    pushImage(lab().registry, { name: 'sea/app', tag: 'unsigned', variant: `unsigned-${randomUUID()}` }),
  ]);
  await seaCli(['sign', '--key', join(work, 'ci.key'), '--push', signed.digestRef]);
  criguard = await startCriguard({
    upstream: lab().containerd.socket,
    binary: sea,
    env,
    extraArgs: [
      '--policy',
      join(work, 'policy.json'),
      '--state-dir',
      join(work, 'state'),
      '--audit-log',
      auditLog,
      '--log-level',
      'warn',
    ],
  });
  cri = createCriClient(criguard.socket, { deadlineMs: 60_000 });
});

test.after.always(async () => {
  cri?.close();
  await criguard?.dispose();
  rmSync(work, { recursive: true, force: true });
});

function sandbox(): PodSandboxConfig {
  return podSandboxConfig(lab(), 'default');
}

test.serial('the daemon is the packaged binary, not node, and runs the pinned Node LTS', async (t) => {
  const exe = readlinkSync(`/proc/${criguard.daemon.pid}/exe`);
  t.is(exe, realpathSync(sea));
  t.false(realpathSync(exe) === realpathSync(process.execPath), 'the daemon is not the node running ava');
  // The runtime inside is the one scripts/node-runtime.mjs pins, whatever Node runs the build and the tests.
  const pinned = /version: '([^']+)'/.exec(readFileSync('scripts/node-runtime.mjs', 'utf8'))?.[1];
  t.truthy(pinned);
  const metrics = await (await fetch(`${criguard.metricsUrl}/metrics`)).text();
  t.regex(metrics, new RegExp(`^criguard_nodejs_version_info\\{version="v${pinned}"`, 'm'));
});

test.serial('signed image: pull, create, start, running; unsigned image: denied at pull', async (t) => {
  const config = sandbox();
  const { pod_sandbox_id: podId } = await cri.runPodSandbox({ config });
  try {
    const pulled = await cri.pullImage({ image: { image: signed.ref }, sandbox_config: config });
    t.is(pulled.image_ref, signed.configDigest);
    const { container_id: containerId } = await cri.createContainer({
      pod_sandbox_id: podId,
      config: {
        metadata: { name: 'app' },
        image: { image: pulled.image_ref, user_specified_image: signed.ref },
        command: ['/bin/sleep', '3600'],
        log_path: 'app.log',
      },
      sandbox_config: config,
    });
    await cri.startContainer({ container_id: containerId });
    t.is((await cri.containerStatus({ container_id: containerId })).status?.state, 'CONTAINER_RUNNING');

    const err = await t.throwsAsync<ServiceError>(
      cri.pullImage({ image: { image: unsigned.ref }, sandbox_config: config }),
    );
    t.true(err.details.startsWith('SignatureValidationFailed: '), err.details);
    t.is(
      (await lab().cri.imageStatus({ image: { image: unsigned.ref } })).image,
      null,
      'containerd never pulled the unsigned image',
    );

    await cri.stopContainer({ container_id: containerId, timeout: 0 });
    await cri.removeContainer({ container_id: containerId });
  } finally {
    await cri.stopPodSandbox({ pod_sandbox_id: podId });
    await cri.removePodSandbox({ pod_sandbox_id: podId });
  }
  t.false((await cri.listPodSandbox({})).items.some((p) => p.id === podId));
  const records = readAudit(auditLog)
    .filter((r) => r.method !== 'Revalidation')
    .map((r) => [r.method, r.outcome, r.reason]);
  t.deepEqual(records, [
    ['PullImage', 'allow', 'ATTESTATIONS_SATISFIED'],
    ['CreateContainer', 'allow', 'ATTESTATIONS_SATISFIED'],
    ['PullImage', 'deny', 'ATTESTOR_MISSING'],
  ]);
});
