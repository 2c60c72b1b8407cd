/**
 * Socket activation against a real containerd: Debian's systemd-socket-activate holds criguard's socket the
 * way criguard.socket does, so a client that dials as soon as the socket exists is served (no start-up
 * race with the kubelet), and criguard restarts under a steady call loop without a single failed call.
 * Readiness reaches a real notify socket through systemd-notify.
 */
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createCriClient } from '../helpers/cri-client.js';
import { startActivatedCriguard, startCallLoop } from '../helpers/activated-criguard.js';
import { startCriguard } from '../helpers/criguard.js';
import { spawnDaemon, waitFor } from '../helpers/daemon.js';
import { pushImage } from '../helpers/images.js';
import { labReady, podSandboxConfig, useLab } from '../helpers/lab.js';

const lab = useLab(test);

test.serial('a client dialing the moment the socket exists is served: no start-up race', async (t) => {
  await labReady(lab);
  const criguard = await startActivatedCriguard({ upstream: lab().containerd.socket });
  t.teardown(() => criguard.dispose());
  // The socket exists, criguard does not run yet (the holder starts it at the first connection): this is
  // the kubelet starting right after criguard.socket at boot, or during a criguard restart.
  t.is(criguard.criguardPid(), undefined);
  const client = createCriClient(criguard.socket, { deadlineMs: 30_000 });
  t.teardown(() => client.close());
  const [version, images] = await Promise.all([client.version({ version: 'v1' }), client.listImages({})]);
  t.is(version.runtime_name, 'containerd');
  t.true(Array.isArray(images.images));
  t.not(criguard.criguardPid(), undefined, 'criguard was started by the first connection');
  t.regex(readFileSync(criguard.logFile, 'utf8'), /"socket":"from systemd"/);
});

test.serial(
  'criguard restarted three times under a steady call loop: no call fails, running containers untouched',
  async (t) => {
    const { cri, registry, containerd } = await labReady(lab);
    // A running container, started directly on containerd.
    const image = await pushImage(registry, { variant: `activation-${randomUUID()}` });
    const config = podSandboxConfig(lab(), 'criguard-activation', 'survives-restarts');
    const { pod_sandbox_id: podId } = await cri.runPodSandbox({ config });
    t.teardown(async () => {
      await cri.stopPodSandbox({ pod_sandbox_id: podId });
      await cri.removePodSandbox({ pod_sandbox_id: podId });
    });
    const pulled = await cri.pullImage({ image: { image: image.ref } });
    const { container_id: id } = await cri.createContainer({
      pod_sandbox_id: podId,
      config: {
        metadata: { name: 'long' },
        image: { image: pulled.image_ref },
        command: ['/bin/sleep', '3600'],
        log_path: 'long.log',
      },
      sandbox_config: config,
    });
    await cri.startContainer({ container_id: id });
    const before = (await cri.containerStatus({ container_id: id })).status;

    const criguard = await startActivatedCriguard({ upstream: containerd.socket });
    t.teardown(() => criguard.dispose());
    const warm = createCriClient(criguard.socket, { deadlineMs: 30_000 });
    await warm.version({});
    warm.close();

    const loop = startCallLoop(criguard.socket);
    const pids = [criguard.criguardPid()];
    await new Promise((r) => setTimeout(r, 500));
    for (let i = 0; i < 3; i++) {
      await criguard.restart();
      pids.push(criguard.criguardPid());
      await new Promise((r) => setTimeout(r, 500));
    }
    const { calls, failures } = await loop.stop();

    t.log(`${calls} calls, ${failures.length} failed, across 3 restarts`);
    t.is(new Set(pids).size, 4, 'four criguard processes served the socket in turn');
    t.deepEqual(failures, [], `${failures.length} of ${calls + failures.length} calls failed`);
    t.true(calls > 0);
    const after = (await cri.containerStatus({ container_id: id })).status;
    t.is(after?.state, 'CONTAINER_RUNNING');
    t.is(after?.started_at, before?.started_at);
  },
);

test.serial('criguard reports READY=1 to the notify socket once it serves', async (t) => {
  await labReady(lab);
  const dir = mkdtempSync(join(tmpdir(), 'cgn-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const notifySocket = join(dir, 'notify.sock');
  const received = join(dir, 'received');
  // A datagram socket as systemd's NOTIFY_SOCKET; `dd` keeps the first two datagrams (the state, then
  // systemd-notify's barrier, whose descriptor the read discards: that releases systemd-notify). Listening
  // once its log says so (the file appears at bind(), before it is ready).
  const receiver = spawnDaemon(
    'systemd-socket-activate',
    ['--datagram', '--listen', notifySocket, 'sh', '-c', `exec dd bs=4096 count=2 <&3 >${received}`],
    { logFile: join(dir, 'receiver.log') },
  );
  t.teardown(() => receiver.stop(1000));
  await waitFor(
    'notify socket',
    async () => readFileSync(join(dir, 'receiver.log'), 'utf8').includes(`Listening on ${notifySocket}`),
    { daemon: receiver, intervalMs: 5 },
  );
  const criguard = await startCriguard({
    upstream: lab().containerd.socket,
    env: { ...process.env, NOTIFY_SOCKET: notifySocket },
  });
  t.teardown(() => criguard.dispose());
  await waitFor(
    'READY=1 received',
    async () => existsSync(received) && readFileSync(received, 'utf8').includes('READY=1'),
    {
      timeoutMs: 10_000,
    },
  );
  const message = readFileSync(received, 'utf8');
  t.regex(message, /^READY=1$/m);
  t.regex(message, new RegExp(`^STATUS=serving ${criguard.socket}`, 'm'));
  t.notRegex(readFileSync(criguard.logFile, 'utf8'), /cannot report readiness/);
});
