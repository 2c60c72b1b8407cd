/**
 * Quarantine end to end (issue 11, item 4): criguard in front of a real containerd and registry. A signed
 * image runs; once quarantined with `criguard quarantine add`, new pulls and creates of it are refused
 * within two seconds, the running container is reported (audit record and metric), a breakglass cannot
 * reopen it, an invalid file does not lift it, and `criguard quarantine remove` restores admission.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import { createCriClient, type CriClient } from '../helpers/cri-client.js';
import { startCriguard, type Criguard } from '../helpers/criguard.js';
import { pushImage, type PushedImage } from '../helpers/images.js';
import { labReady, podSandboxConfig, useLab } from '../helpers/lab.js';
import { runContainer, type RunResult } from '../helpers/run-container.js';
import {
  attestor,
  criguardCli,
  keygen,
  readAudit,
  sign,
  writePolicy,
  type SigningKey,
} from '../helpers/signing.js';

const lab = useLab(test);
const work = mkdtempSync(join(tmpdir(), 'cgq-'));
const attestations = join(work, 'attestations');
const policyFile = join(work, 'policy.json');
const auditLog = join(work, 'audit.jsonl');
const etc = join(work, 'etc');
const quarantineFile = join(etc, 'quarantine.yaml');
const breakglassFile = join(etc, 'breakglass.yaml');
let builder: SigningKey;
let criguard: Criguard;
let cri: CriClient;

test.before(async () => {
  builder = await keygen(work, 'builder');
  mkdirSync(attestations, { recursive: true });
  mkdirSync(etc, { recursive: true, mode: 0o755 });
  writePolicy(policyFile, {
    defaultAdmissionRule: {
      evaluationMode: 'REQUIRE_ATTESTATION',
      enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      requireAttestationsBy: ['builder'],
    },
    attestors: [attestor('builder', [builder])],
  });
  await labReady(lab);
  criguard = await startCriguard({
    upstream: lab().containerd.socket,
    extraArgs: [
      '--policy',
      policyFile,
      '--attestations-dir',
      attestations,
      '--state-dir',
      join(work, 'state'),
      '--audit-log',
      auditLog,
      '--log-level',
      'warn',
      // Long: the running container must be reported because the quarantine changed, not by the timer.
      '--revalidate-interval',
      '3600',
      '--breakglass-file',
      breakglassFile,
      '--quarantine-file',
      quarantineFile,
    ],
  });
  cri = createCriClient(criguard.socket, { deadlineMs: 60_000 });
});

test.after.always(async () => {
  cri?.close();
  await criguard?.dispose();
  rmSync(work, { recursive: true, force: true });
});

async function signedImage(): Promise<PushedImage> {
  const image = await pushImage(lab().registry, { variant: `q-${randomUUID()}` });
  await sign(builder, attestations, image.digestRef);
  return image;
}

function run(image: string, namespace = 'default'): Promise<RunResult> {
  return runContainer(cri, podSandboxConfig(lab(), namespace), image, {
    start: true,
    userSpecifiedImage: true,
  });
}

/** CreateContainer from an image already on the node (by image id, as the kubelet sends it). */
async function createFrom(imageId: string, userSpecified: string): Promise<ServiceError | undefined> {
  const config = podSandboxConfig(lab(), 'default');
  const { pod_sandbox_id } = await cri.runPodSandbox({ config });
  try {
    await cri.createContainer({
      pod_sandbox_id,
      config: {
        metadata: { name: 'app' },
        image: { image: imageId, user_specified_image: userSpecified },
        command: ['/bin/sleep', '3600'],
        log_path: 'a.log',
      },
      sandbox_config: config,
    });
    return undefined;
  } catch (err) {
    return err as ServiceError;
  }
}

async function pullError(image: string): Promise<ServiceError | undefined> {
  try {
    await cri.pullImage({ image: { image }, sandbox_config: podSandboxConfig(lab(), 'default') });
    return undefined;
  } catch (err) {
    return err as ServiceError;
  }
}

/** Polls `ready` every 50 ms for up to `limitMs`; resolves to whether it held. */
async function eventually(limitMs: number, ready: () => Promise<boolean> | boolean): Promise<boolean> {
  const end = Date.now() + limitMs;
  for (;;) {
    if (await ready()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function metric(name: string): Promise<number | undefined> {
  const text = await (await fetch(`${criguard.metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

test.serial(
  'a signed, running image quarantined: refused within 2 s, reported running, not reopened by a breakglass, restored by removal',
  async (t) => {
    const image = await signedImage();
    const running = await run(image.digestRef);
    t.truthy(running.id, running.error?.message);

    const added = await criguardCli([
      'quarantine',
      'add',
      image.digest,
      '--reason',
      'CVE-2026-0001 compromised release',
      '--ticket',
      'INC-9',
      '--file',
      quarantineFile,
    ]);
    t.is(added.code, 0, added.stderr);
    let refused: ServiceError | undefined;
    t.true(
      await eventually(2000, async () => (refused = await pullError(image.digestRef)) !== undefined),
      'new pulls refused within 2 s',
    );
    t.regex(
      refused?.details ?? refused?.message ?? '',
      /SignatureValidationFailed: QUARANTINED: .* is quarantined on this node: CVE-2026-0001 compromised release \(ticket INC-9/,
    );
    const createError = await createFrom(image.configDigest, image.digestRef);
    t.regex(
      createError?.details ?? '',
      /QUARANTINED/,
      'creates from the image already on the node are refused',
    );
    t.regex((await pullError(image.ref))?.details ?? '', /QUARANTINED/, 'by tag too');

    // The running container is reported: a Revalidation record and the metric, without waiting for the timer.
    t.true(
      await eventually(5000, () =>
        readAudit(auditLog).some(
          (r) => r.method === 'Revalidation' && r.reason === 'QUARANTINED' && r.image === image.configDigest,
        ),
      ),
      'a Revalidation record names the running container',
    );
    t.true(
      await eventually(5000, async () => (await metric('criguard_quarantined_running_containers')) === 1),
    );
    t.is(await metric('criguard_quarantine_entries'), 1);
    t.true(((await metric('criguard_quarantine_hits_total')) ?? 0) >= 1);
    const added_ = readAudit(auditLog).find((r) => r.event === 'quarantine' && r.change === 'added');
    t.is(added_?.ticket, 'INC-9');
    t.regex(String(added_?.by), /uid 0/);
    const status = await cri.containerStatus({ container_id: running.id! });
    t.is(status.status?.state, 'CONTAINER_RUNNING', 'reported, not stopped');

    // A breakglass for everything is honoured for other images, and cannot reopen the quarantined one.
    const enabled = await criguardCli([
      'breakglass',
      'enable',
      '--file',
      breakglassFile,
      '--reason',
      'INC-10 open everything',
      '--duration',
      '1h',
      '--all',
    ]);
    t.is(enabled.code, 0, enabled.stderr);
    const unsigned = await pushImage(lab().registry, { variant: `u-${randomUUID()}` });
    t.true(
      await eventually(3000, async () => (await pullError(unsigned.digestRef)) === undefined),
      'breakglass active',
    );
    t.regex((await pullError(image.digestRef))?.details ?? '', /QUARANTINED/);
    t.regex((await createFrom(image.configDigest, image.digestRef))?.details ?? '', /QUARANTINED/);
    t.is((await criguardCli(['breakglass', 'disable', '--file', breakglassFile])).code, 0);

    const removed = await criguardCli([
      'quarantine',
      'remove',
      image.digest,
      '--reason',
      'false alarm',
      '--file',
      quarantineFile,
    ]);
    t.is(removed.code, 0, removed.stderr);
    t.true(
      await eventually(2000, async () => (await pullError(image.digestRef)) === undefined),
      'admitted again within 2 s',
    );
    const after = await run(image.digestRef);
    t.truthy(after.id, after.error?.message);
    t.true(
      await eventually(5000, async () => (await metric('criguard_quarantined_running_containers')) === 0),
    );
    const removedRecord = readAudit(auditLog).find((r) => r.event === 'quarantine' && r.change === 'removed');
    t.is(removedRecord?.reason, 'false alarm');
  },
);

test.serial(
  'an invalid quarantine file written in place does not lift the quarantine, and is alerted',
  async (t) => {
    const image = await signedImage();
    const added = await criguardCli([
      'quarantine',
      'add',
      image.digest,
      '--reason',
      'bad',
      '--file',
      quarantineFile,
    ]);
    t.is(added.code, 0, added.stderr);
    t.true(await eventually(2000, async () => (await pullError(image.digestRef)) !== undefined));
    // Half-written in place: the entries are cut off, the end marker is missing.
    writeFileSync(quarantineFile, 'entries:\n');
    t.true(await eventually(3000, async () => (await metric('criguard_quarantine_file_invalid')) === 1));
    t.regex(
      (await pullError(image.digestRef))?.details ?? '',
      /QUARANTINED/,
      'the last good list stays in force',
    );
    t.true(
      readAudit(auditLog).some(
        (r) =>
          r.event === 'quarantine' &&
          r.state === 'invalid' &&
          (r.problem as { code?: string })?.code === 'CG_ERR_QUARANTINE_INCOMPLETE',
      ),
    );
    const listed = await criguardCli(['quarantine', 'list', '--output', 'json', '--file', quarantineFile]);
    t.is(listed.code, 1);
    rmSync(quarantineFile);
    t.true(await eventually(2000, async () => (await pullError(image.digestRef)) === undefined));
    t.is(await metric('criguard_quarantine_file_invalid'), 0);
  },
);
