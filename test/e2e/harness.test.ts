/**
 * End-to-end check of the test harness itself, talking directly to a real containerd (no criguard): the
 * kubelet's container flow, the list/status calls the kubelet polls, raw calls, and the image helpers.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { callRaw, type CriClient, type PodSandboxConfig } from '../helpers/cri-client.js';
import { useLab } from '../helpers/lab.js';
import { importIntoContainerd, pushImage, pushIndex } from '../helpers/images.js';

const lab = useLab(test);
let cri: CriClient;
test.beforeEach(() => {
  cri = lab().cri;
});

function sandboxConfig(name: string): PodSandboxConfig {
  const uid = randomUUID();
  const logDirectory = join(lab().containerd.dir, 'pods', uid);
  mkdirSync(logDirectory, { recursive: true });
  return {
    metadata: { name, uid, namespace: 'criguard-e2e', attempt: 0 },
    log_directory: logDirectory,
    labels: { 'io.kubernetes.pod.name': name },
    linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
  };
}

async function waitForLog(file: string, text: string, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let content = '';
    try {
      content = readFileSync(file, 'utf8');
    } catch {
      // Not written yet.
    }
    if (content.includes(text) || Date.now() > deadline) return content;
    await sleep(50);
  }
}

test.serial('lab starts quickly and containerd answers Version and Status', async (t) => {
  t.log(`lab start-up: ${lab().startupMs} ms`);
  const version = await cri.version({ version: 'v1' });
  t.is(version.runtime_name, 'containerd');
  t.is(version.runtime_api_version, 'v1');
  t.truthy(version.runtime_version);
  const status = await cri.status({});
  const runtimeReady = status.status?.conditions.find((c) => c.type === 'RuntimeReady');
  t.is(runtimeReady?.status, true);
});

test.serial('the kubelet flow for one container, directly against containerd', async (t) => {
  const image = await pushImage(lab().registry, { variant: 'flow' });
  const config = sandboxConfig('harness-flow');

  const { pod_sandbox_id: podId } = await cri.runPodSandbox({ config });
  t.regex(podId, /^[0-9a-f]{64}$/);
  const podStatus = await cri.podSandboxStatus({ pod_sandbox_id: podId });
  t.is(podStatus.status?.state, 'SANDBOX_READY');
  t.is(podStatus.status?.metadata?.uid, config.metadata.uid);

  // Kubelet step 1: ImageStatus on the pod-spec string; absent is an unset image, not an error.
  t.is((await cri.imageStatus({ image: { image: image.ref } })).image, null);

  const pulled = await cri.pullImage({ image: { image: image.ref }, sandbox_config: config });
  t.is(pulled.image_ref, image.configDigest, 'containerd returns the config digest as the image ID');

  const imageStatus = await cri.imageStatus({ image: { image: image.ref } });
  t.is(imageStatus.image?.id, image.configDigest);
  t.deepEqual(imageStatus.image?.repo_tags, [image.ref]);
  t.deepEqual(imageStatus.image?.repo_digests, [image.digestRef]);
  t.true(Number(imageStatus.image?.size) > 0);
  // Looking up by image ID and by digest reference finds the same image.
  t.is((await cri.imageStatus({ image: { image: pulled.image_ref } })).image?.id, image.configDigest);
  t.is((await cri.imageStatus({ image: { image: image.digestRef } })).image?.id, image.configDigest);

  const listed = await cri.listImages({});
  t.true(listed.images.some((i) => i.id === image.configDigest));
  t.true(
    listed.images.some((i) => i.id === lab().pause.configDigest),
    'pause image pulled by containerd',
  );

  const { container_id: containerId } = await cri.createContainer({
    pod_sandbox_id: podId,
    config: {
      metadata: { name: 'app', attempt: 0 },
      image: { image: pulled.image_ref, user_specified_image: image.ref },
      command: ['/bin/sh', '-c', 'echo hello from the criguard harness; exec sleep 3600'],
      log_path: 'app/0.log',
      labels: { 'io.kubernetes.container.name': 'app' },
    },
    sandbox_config: config,
  });
  t.regex(containerId, /^[0-9a-f]{64}$/);
  t.is((await cri.containerStatus({ container_id: containerId })).status?.state, 'CONTAINER_CREATED');

  await cri.startContainer({ container_id: containerId });
  const running = await cri.containerStatus({ container_id: containerId });
  t.is(running.status?.state, 'CONTAINER_RUNNING');
  t.is(running.status?.image?.image, image.ref, 'ContainerStatus.image = first repo tag');
  t.is(running.status?.image_ref, image.digestRef, 'ContainerStatus.image_ref = first repo digest');
  t.is(running.status?.log_path, join(config.log_directory ?? '', 'app/0.log'));
  const log = await waitForLog(running.status?.log_path ?? '', 'hello from the criguard harness');
  t.regex(log, / stdout F hello from the criguard harness\n/);

  const containers = await cri.listContainers({ filter: { pod_sandbox_id: podId } });
  t.deepEqual(
    containers.containers.map((c) => [c.id, c.state, c.image_ref]),
    [[containerId, 'CONTAINER_RUNNING', image.configDigest]],
  );
  const pods = await cri.listPodSandbox({ filter: { state: { state: 'SANDBOX_READY' } } });
  t.true(pods.items.some((p) => p.id === podId && p.metadata?.name === 'harness-flow'));

  await cri.stopContainer({ container_id: containerId, timeout: 0 });
  const exited = await cri.containerStatus({ container_id: containerId });
  t.is(exited.status?.state, 'CONTAINER_EXITED');
  t.is(exited.status?.exit_code, 137, 'SIGKILL');
  await cri.removeContainer({ container_id: containerId });
  const gone = await t.throwsAsync<ServiceError>(cri.containerStatus({ container_id: containerId }));
  t.is(gone?.code, grpcStatus.NOT_FOUND);

  await cri.stopPodSandbox({ pod_sandbox_id: podId });
  t.is((await cri.podSandboxStatus({ pod_sandbox_id: podId })).status?.state, 'SANDBOX_NOTREADY');
  await cri.removePodSandbox({ pod_sandbox_id: podId });
  t.false((await cri.listPodSandbox({})).items.some((p) => p.id === podId));

  await cri.removeImage({ image: { image: image.ref } });
  t.is((await cri.imageStatus({ image: { image: image.ref } })).image, null);
});

test.serial('ImageFsInfo reports the native snapshotter inside the lab dir', async (t) => {
  const info = await cri.imageFsInfo({});
  t.is(info.image_filesystems.length, 1);
  t.is(
    info.image_filesystems[0]?.fs_id?.mountpoint,
    join(lab().containerd.dir, 'root', 'io.containerd.snapshotter.v1.native'),
  );
  t.true(Number(info.image_filesystems[0]?.used_bytes?.value) >= 0);
});

test.serial('PullImage of a missing image fails with containerd’s NotFound error', async (t) => {
  const ref = `${lab().registry.host}/criguard-test/busybox:does-not-exist`;
  const err = await t.throwsAsync<ServiceError>(cri.pullImage({ image: { image: ref } }));
  t.log(`code ${err?.code}: ${err?.details}`);
  t.is(err?.code, grpcStatus.NOT_FOUND);
  t.regex(err?.details ?? '', /failed to pull and unpack image .*does-not-exist.*not found/);
});

test.serial('a multi-arch index is pulled as the amd64 image and recorded by its index digest', async (t) => {
  const index = await pushIndex(lab().registry, { name: 'criguard-test/multi', tag: 'v1', variant: 'multi' });
  t.is(index.manifests.length, 2);
  t.not(index.manifests[0]?.configDigest, index.manifests[1]?.configDigest);
  const pulled = await cri.pullImage({ image: { image: index.ref } });
  t.is(pulled.image_ref, index.configDigest);
  const status = await cri.imageStatus({ image: { image: index.ref } });
  t.deepEqual(status.image?.repo_digests, [index.digestRef], 'the index digest, not the manifest digest');
});

test.serial('distinct variants give distinct digests; the same variant is reproducible', async (t) => {
  const a = await pushImage(lab().registry, { variant: 'a' });
  const b = await pushImage(lab().registry, { variant: 'b' });
  const a2 = await pushImage(lab().registry, { variant: 'a', tag: 'a-again' });
  t.not(a.digest, b.digest);
  t.not(a.configDigest, b.configDigest);
  t.is(a.digest, a2.digest);
});

test.serial('an image imported with ctr is visible to the CRI without a PullImage', async (t) => {
  const image = await pushImage(lab().registry, { variant: 'imported' });
  await importIntoContainerd(lab().containerd, image.ref);
  const status = await cri.imageStatus({ image: { image: image.ref } });
  t.is(status.image?.id, image.configDigest);
  t.deepEqual(status.image?.repo_tags, [image.ref]);
  // Unlike a CRI pull, `ctr` records only the tag: containerd 1.6 then reports no repo digest at all.
  t.deepEqual(status.image?.repo_digests, []);
});

test.serial('callRaw returns the undecoded response bytes and the status', async (t) => {
  const socket = lab().containerd.socket;
  // VersionRequest{version: "v1"}: field 1, wire type 2, length 2.
  const ok = await callRaw(
    socket,
    '/runtime.v1.RuntimeService/Version',
    Buffer.from([0x0a, 0x02, 0x76, 0x31]),
  );
  t.is(ok.code, grpcStatus.OK);
  t.truthy(ok.response);
  t.true(ok.response?.includes(Buffer.from('containerd')));
  const again = await callRaw(
    socket,
    '/runtime.v1.RuntimeService/Version',
    Buffer.from([0x0a, 0x02, 0x76, 0x31]),
  );
  t.deepEqual(again.response, ok.response, 'same request, same bytes');

  const missing = await callRaw(socket, '/runtime.v1.RuntimeService/NoSuchMethod', Buffer.alloc(0));
  t.is(missing.code, grpcStatus.UNIMPLEMENTED);
  t.is(missing.response, undefined);
});

test.serial('the registry can be stopped and restarted on the same port with the same storage', async (t) => {
  const image = await pushImage(lab().registry, { variant: 'outage' });
  await lab().registry.stop();
  const down = await t.throwsAsync<ServiceError>(cri.pullImage({ image: { image: image.ref } }));
  t.not(down?.code, grpcStatus.OK);
  await lab().registry.restart();
  const pulled = await cri.pullImage({ image: { image: image.ref } });
  t.is(pulled.image_ref, image.configDigest);
});

test.serial('containerd restarts with its state; a running pod survives', async (t) => {
  const config = sandboxConfig('harness-restart');
  const { pod_sandbox_id: podId } = await cri.runPodSandbox({ config });
  await lab().containerd.restart();
  const status = await cri.podSandboxStatus({ pod_sandbox_id: podId });
  t.is(status.status?.state, 'SANDBOX_READY');
  // Left running on purpose: dispose() must clean it up (checked by the harness runner, see report).
});
