/**
 * criguard in front of a real containerd (Debian's containerd + runc, a local registry, images built here):
 * the kubelet's whole flow through the proxy, byte-identical answers, identical errors, old clients'
 * `:authority`, containerd and criguard restarts, and a graceful stop with a call in flight.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { callRaw, createCriClient, type CriClient, type PodSandboxConfig } from '../helpers/cri-client.js';
import { encodeCriMessage } from '../../src/cri/proto.js';
import { startCriguard, type Criguard } from '../helpers/criguard.js';
import { pushImage, type PushedImage } from '../helpers/images.js';
import { labReady, podSandboxConfig, useLab } from '../helpers/lab.js';

const lab = useLab(test);
let criguard: Criguard;
let viaProxy: CriClient;
let image: PushedImage;

test.before(async () => {
  // `useLab`'s before hook runs first (registered first); wait for it to be usable.
  await labReady(lab);
  criguard = await startCriguard({ upstream: lab().containerd.socket });
  viaProxy = createCriClient(criguard.socket, { deadlineMs: 60_000 });
  image = await pushImage(lab().registry, { variant: `proxy-${randomUUID()}` });
});

test.after.always(async () => {
  viaProxy?.close();
  await criguard?.dispose();
});

function sandboxConfig(name: string): PodSandboxConfig {
  return podSandboxConfig(lab(), 'criguard-e2e', name);
}

test.serial('the kubelet flow for a pod and a container, through criguard', async (t) => {
  const cri = viaProxy;
  const version = await cri.version({ version: 'v1' });
  t.is(version.runtime_name, 'containerd');
  t.true((await cri.imageFsInfo({})).image_filesystems.length > 0);
  const config = sandboxConfig('through-criguard');
  const { pod_sandbox_id: podId } = await cri.runPodSandbox({ config });
  t.is(await cri.imageStatus({ image: { image: image.ref } }).then((r) => r.image), null);
  const pulled = await cri.pullImage({ image: { image: image.ref }, sandbox_config: config });
  t.is(pulled.image_ref, image.configDigest);
  const status = await cri.imageStatus({ image: { image: image.ref } });
  t.deepEqual(status.image?.repo_digests, [image.digestRef]);
  const { container_id: containerId } = await cri.createContainer({
    pod_sandbox_id: podId,
    config: {
      metadata: { name: 'main' },
      image: { image: pulled.image_ref, user_specified_image: image.ref },
      command: ['/bin/sh', '-c', 'exec sleep 3600'],
      log_path: 'main.log',
    },
    sandbox_config: config,
  });
  await cri.startContainer({ container_id: containerId });
  t.is((await cri.containerStatus({ container_id: containerId })).status?.state, 'CONTAINER_RUNNING');
  t.true((await cri.listContainers({})).containers.some((c) => c.id === containerId));
  t.true((await cri.listPodSandbox({})).items.some((p) => p.id === podId));
  t.true((await cri.listImages({})).images.some((i) => i.id === image.configDigest));
  t.is((await cri.status({})).status?.conditions.find((c) => c.type === 'RuntimeReady')?.status, true);
  await cri.stopContainer({ container_id: containerId, timeout: 0 });
  t.is((await cri.containerStatus({ container_id: containerId })).status?.state, 'CONTAINER_EXITED');
  await cri.removeContainer({ container_id: containerId });
  await cri.stopPodSandbox({ pod_sandbox_id: podId });
  await cri.removePodSandbox({ pod_sandbox_id: podId });
  t.false((await cri.listPodSandbox({})).items.some((p) => p.id === podId));
});

test.serial('read calls answer byte for byte what containerd answers directly', async (t) => {
  await viaProxy.pullImage({ image: { image: image.ref } });
  const calls: Array<[string, Buffer]> = [
    ['/runtime.v1.RuntimeService/Version', encodeCriMessage('VersionRequest', { version: 'v1' })],
    ['/runtime.v1.RuntimeService/Status', encodeCriMessage('StatusRequest', {})],
    ['/runtime.v1.RuntimeService/ListContainers', encodeCriMessage('ListContainersRequest', {})],
    ['/runtime.v1.RuntimeService/ListPodSandbox', encodeCriMessage('ListPodSandboxRequest', {})],
    ['/runtime.v1.ImageService/ListImages', encodeCriMessage('ListImagesRequest', {})],
    [
      '/runtime.v1.ImageService/ImageStatus',
      encodeCriMessage('ImageStatusRequest', { image: { image: image.ref } }),
    ],
  ];
  for (const [path, request] of calls) {
    const direct = await callRaw(lab().containerd.socket, path, request);
    const proxied = await callRaw(criguard.socket, path, request);
    t.is(direct.code, grpcStatus.OK, path);
    t.is(proxied.code, grpcStatus.OK, path);
    if (path.endsWith('/ListImages')) {
      // containerd lists images in map order, which varies between calls: compare the encoded entries.
      t.deepEqual(encodedEntries(proxied.response!), encodedEntries(direct.response!), path);
    } else {
      t.true(Buffer.isBuffer(proxied.response) && proxied.response.equals(direct.response!), path);
    }
  }
});

/** The raw bytes of each entry of repeated field 1 (the only field of ListImagesResponse), sorted. */
function encodedEntries(message: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < message.length) {
    if (message[at] !== 0x0a) throw new Error(`unexpected tag ${message[at]}`);
    at += 1;
    let length = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = message[at++]!;
      length |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
    }
    out.push(message.subarray(at, at + length).toString('hex'));
    at += length;
  }
  return out.sort();
}

test.serial('containerd errors come back with the same code and message', async (t) => {
  const missing = `${lab().registry.host}/criguard-test/nope:missing`;
  const cases: Array<[string, Buffer]> = [
    [
      '/runtime.v1.ImageService/PullImage',
      encodeCriMessage('PullImageRequest', { image: { image: missing } }),
    ],
    [
      '/runtime.v1.RuntimeService/CreateContainer',
      encodeCriMessage('CreateContainerRequest', {
        pod_sandbox_id: 'no-such-sandbox',
        config: { metadata: { name: 'x' }, image: { image: image.ref } },
      }),
    ],
    [
      '/runtime.v1.RuntimeService/ContainerStatus',
      encodeCriMessage('ContainerStatusRequest', { container_id: 'nope' }),
    ],
    [
      '/runtime.v1.RuntimeService/PodSandboxStatus',
      encodeCriMessage('PodSandboxStatusRequest', { pod_sandbox_id: 'x' }),
    ],
  ];
  for (const [path, request] of cases) {
    const direct = await callRaw(lab().containerd.socket, path, request);
    const proxied = await callRaw(criguard.socket, path, request);
    t.not(direct.code, grpcStatus.OK, path);
    t.is(proxied.code, direct.code, path);
    t.is(
      proxied.details.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'T'),
      direct.details.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'T'),
      path,
    );
  }
});

test.serial(
  'clients that send the socket path as :authority (kubelets before 1.30) are served',
  async (t) => {
    const body = join(criguard.dir, 'version.bin');
    const request = encodeCriMessage('VersionRequest', { version: 'v1' });
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, request.length]), request]);
    writeFileSync(body, framed);
    const { stdout } = await promisify(execFile)(
      'curl',
      [
        '-sS',
        '--http2-prior-knowledge',
        '--unix-socket',
        criguard.socket,
        '-H',
        `Host: ${criguard.socket}`,
        '-H',
        'content-type: application/grpc',
        '-H',
        'te: trailers',
        '--data-binary',
        `@${body}`,
        '-D',
        '-',
        '-o',
        join(criguard.dir, 'version.out'),
        `http://localhost/runtime.v1.RuntimeService/Version`,
      ],
      { encoding: 'utf8' },
    );
    t.regex(stdout, /^HTTP\/2 200/m);
    t.regex(stdout, /grpc-status: 0/);
  },
);

test.serial(
  'containerd stopped: calls fail fast with UNAVAILABLE; restarted: calls work again',
  async (t) => {
    await lab().containerd.stop();
    const started = Date.now();
    const err = await t.throwsAsync<ServiceError>(viaProxy.version({}, { deadlineMs: 10_000 }));
    t.is(err.code, grpcStatus.UNAVAILABLE);
    t.true(Date.now() - started < 3000, `failed after ${Date.now() - started} ms`);
    await lab().containerd.restart();
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) {
      ok = await viaProxy.version({}, { deadlineMs: 2000 }).then(
        (v) => v.runtime_name === 'containerd',
        () => false,
      );
      if (!ok) await new Promise((r) => setTimeout(r, 100));
    }
    t.true(ok, 'criguard reaches containerd again without a restart');
  },
);

test.serial(
  'criguard killed and restarted: the stale socket is replaced, running containers untouched',
  async (t) => {
    const config = sandboxConfig('survives-restart');
    const { pod_sandbox_id: podId } = await viaProxy.runPodSandbox({ config });
    const pulled = await viaProxy.pullImage({ image: { image: image.ref } });
    const { container_id: id } = await viaProxy.createContainer({
      pod_sandbox_id: podId,
      config: {
        metadata: { name: 'long' },
        image: { image: pulled.image_ref },
        command: ['/bin/sleep', '3600'],
        log_path: 'l.log',
      },
      sandbox_config: config,
    });
    await viaProxy.startContainer({ container_id: id });
    await criguard.daemon.kill();
    await criguard.start();
    const fresh = createCriClient(criguard.socket, { deadlineMs: 30_000 });
    t.teardown(() => fresh.close());
    t.is((await fresh.containerStatus({ container_id: id })).status?.state, 'CONTAINER_RUNNING');
    await fresh.stopPodSandbox({ pod_sandbox_id: podId });
    await fresh.removePodSandbox({ pod_sandbox_id: podId });
  },
);

test.serial('SIGTERM lets a call in flight finish, then criguard exits 0', async (t) => {
  const config = sandboxConfig('graceful');
  const cri = createCriClient(criguard.socket, { deadlineMs: 30_000 });
  t.teardown(() => cri.close());
  const { pod_sandbox_id: podId } = await cri.runPodSandbox({ config });
  const pulled = await cri.pullImage({ image: { image: image.ref } });
  const { container_id: id } = await cri.createContainer({
    pod_sandbox_id: podId,
    config: {
      metadata: { name: 'g' },
      image: { image: pulled.image_ref },
      command: ['/bin/sleep', '3600'],
      log_path: 'g.log',
    },
    sandbox_config: config,
  });
  await cri.startContainer({ container_id: id });
  const slow = cri.unary<{ exit_code: number }>('RuntimeService', 'ExecSync', {
    container_id: id,
    cmd: ['/bin/sleep', '2'],
    timeout: 10,
  });
  await new Promise((r) => setTimeout(r, 500));
  const stopped = criguard.stop(15_000);
  const result = await slow;
  t.is(result.exit_code, 0);
  await stopped;
  t.is(await criguard.daemon.exited, 0);
  // Clean up directly against containerd, then bring criguard back for any later test.
  await lab().cri.stopPodSandbox({ pod_sandbox_id: podId });
  await lab().cri.removePodSandbox({ pod_sandbox_id: podId });
  await criguard.start();
});
