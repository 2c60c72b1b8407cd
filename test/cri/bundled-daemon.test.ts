/**
 * The bundled daemon (dist/criguard.cjs under node, as shipped) in front of an in-process CRI upstream:
 * it stops promptly whoever is connected, writes no warning on any path exercised here, and survives a
 * hostile upstream. Needs `node scripts/build.mjs` (scripts/setup.sh does it).
 */
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createH2Server } from 'node:http2';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { CLIENT_PREFACE, ErrorCode, FrameType, encodeSettings } from '../../src/cri/transport/frames.js';
import { criMethods } from '../../src/cri/methods.js';
import { startCriguard, type Criguard } from '../helpers/criguard.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-cri-upstream.js';
import { criClients, unary } from '../helpers/proxy-under-test.js';
import { rawClient } from '../helpers/raw-h2.js';
import { wakeups } from '../helpers/schedstat.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function daemon(
  t: { teardown(fn: () => unknown): void },
  upstream?: FakeUpstream,
): Promise<{ criguard: Criguard; upstream: FakeUpstream; clients: ReturnType<typeof criClients> }> {
  const up = upstream ?? (await startFakeUpstream());
  up.unary.set('/runtime.v1.RuntimeService/Version', () => ({ runtime_name: 'fake' })); // readiness probe
  const criguard = await startCriguard({ upstream: up.socket, extraArgs: ['--log-level', 'debug'] });
  const clients = criClients(criguard.socket);
  t.teardown(async () => {
    clients.close();
    await criguard.dispose();
    await up.dispose();
  });
  return { criguard, upstream: up, clients };
}

/** SIGTERM; resolves to [exit code, ms from SIGTERM to exit], or rejects after a generous 10 s. */
async function terminate(criguard: Criguard): Promise<[number | string, number]> {
  const started = Date.now();
  criguard.daemon.child.kill('SIGTERM');
  const code = await Promise.race([
    criguard.daemon.exited,
    sleep(10_000).then(() => {
      throw new Error('criguard did not exit within 10 s of SIGTERM');
    }),
  ]);
  return [code, Date.now() - started];
}

test('SIGTERM with idle clients, one that keeps its half of the connection open, exits at once', async (t) => {
  const { criguard, clients } = await daemon(t);
  await unary(clients.runtime, 'Version', {});
  await unary(clients.image, 'ListImages', {});
  // A peer that never closes its side: criguard must not wait for it.
  const halfOpen = createConnection({ path: criguard.socket, allowHalfOpen: true });
  t.teardown(() => halfOpen.destroy());
  halfOpen.on('error', () => undefined);
  let goaway = false;
  halfOpen.on(
    'data',
    (d: Buffer) => (goaway ||= d.includes(Buffer.from([0x07, 0x00, 0x00, 0x00, 0x00, 0x00]))),
  );
  halfOpen.write(Buffer.concat([CLIENT_PREFACE, encodeSettings()]));
  await sleep(300);
  const [code, ms] = await terminate(criguard);
  t.log(`exit ${ms} ms after SIGTERM with 2 idle gRPC connections and 1 half-open raw connection`);
  t.is(code, 0);
  t.true(goaway, 'the idle client was sent GOAWAY');
  t.regex(readFileSync(criguard.logFile, 'utf8'), /criguard stopped/);
});

test('SIGTERM during a call: the call completes, then the daemon exits', async (t) => {
  const upstream = await startFakeUpstream();
  upstream.unary.set('/runtime.v1.RuntimeService/ExecSync', async () => {
    await sleep(500);
    return { exit_code: 3 };
  });
  const { criguard, clients } = await daemon(t, upstream);
  await unary(clients.image, 'ListImages', {}); // an idle connection besides the busy one
  let ended = 0;
  const call = unary<{ exit_code: number }>(clients.runtime, 'ExecSync', { container_id: 'c' }).finally(
    () => (ended = Date.now()),
  );
  for (let i = 0; i < 200 && !upstream.started.includes('/runtime.v1.RuntimeService/ExecSync'); i++)
    await sleep(10);
  const exit = terminate(criguard);
  t.is((await call).response.exit_code, 3);
  const [code] = await exit;
  t.log(`exit ${Date.now() - ended} ms after the last call ended`);
  t.is(code, 0);
});

test('no Warning in the daemon log on forwarded, gated, refused and degraded calls', async (t) => {
  const { criguard, upstream, clients } = await daemon(t);
  const md = new grpc.Metadata();
  md.set('x-empty', ''); // an empty header value: the HPACK coder's zero-length paths
  md.set('x-bin-bin', Buffer.from([0, 1, 2]));
  for (const method of criMethods.values()) {
    const client = method.path.startsWith('/runtime.v1.ImageService/') ? clients.image : clients.runtime;
    if (method.serverStreaming) {
      const stream = client[method.name]!({}, md) as grpc.ClientReadableStream<unknown>;
      await new Promise<void>((resolve) => {
        stream.on('data', () => undefined);
        stream.on('end', resolve);
        stream.on('error', () => resolve());
      });
    } else {
      await unary(client, method.name, {}, { metadata: md });
    }
  }
  const raw = new grpc.Client(`unix://${criguard.socket}`, grpc.credentials.createInsecure());
  t.teardown(() => raw.close());
  await new Promise<void>((resolve) =>
    raw.makeUnaryRequest(
      '/containerd.services.version.v1.Version/Version',
      (x: Buffer) => x,
      (x: Buffer) => x,
      Buffer.alloc(0),
      () => resolve(),
    ),
  );
  await upstream.stop();
  const err = await t.throwsAsync<grpc.ServiceError>(
    unary(clients.runtime, 'Version', {}, { deadlineMs: 5000 }),
  );
  t.is(err.code, grpc.status.UNAVAILABLE);
  const [code] = await terminate(criguard);
  t.is(code, 0);
  const log = readFileSync(criguard.logFile, 'utf8');
  t.regex(log, /criguard stopped/);
  t.notRegex(
    log,
    /Warning/,
    log
      .split('\n')
      .filter((l) => /Warning/.test(l))
      .join('\n'),
  );
});

test('a hostile upstream cannot crash the daemon (malformed grpc-message to its own calls)', async (t) => {
  const fake = await startFakeUpstream(); // only for its scratch directory's lifetime
  const socket = join(fake.socket, '..', 'hostile.sock');
  const hostile = createH2Server();
  hostile.on('stream', (stream) => {
    stream.on('error', () => undefined);
    stream.respond({ ':status': 200, 'grpc-status': '13', 'grpc-message': '%E0%A4%A' }, { endStream: true });
  });
  await new Promise<void>((r) => hostile.listen(socket, r));
  t.teardown(() => new Promise<void>((r) => hostile.close(() => r())));
  const criguard = await startCriguard({ upstream: socket, waitReady: false });
  t.teardown(async () => {
    await criguard.dispose();
    await fake.dispose();
  });
  let ready: Response | undefined;
  for (let i = 0; i < 200 && !ready; i++) {
    ready = await fetch(`${criguard.metricsUrl}/readyz`).catch(() => undefined);
    if (!ready) await sleep(50);
  }
  t.is(ready?.status, 503, 'criguard says containerd is not usable');
  t.regex(JSON.stringify(await ready!.json()), /unreachable/);
  const [code] = await terminate(criguard);
  t.is(code, 0, 'the daemon was still running, and stopped cleanly');
});

test('the connections.* settings reach the proxy: cap, preface and idle timeouts', async (t) => {
  const upstream = await startFakeUpstream();
  upstream.unary.set('/runtime.v1.RuntimeService/Version', () => ({ runtime_name: 'fake' }));
  const config = join(upstream.socket, '..', 'criguard.yaml');
  // Idle timeout long enough that the first connection is still open when the second one arrives, even
  // on a loaded machine.
  writeFileSync(config, 'connections:\n  max: 1\n  prefaceTimeoutSeconds: 1\n  idleTimeoutSeconds: 4\n');
  const criguard = await startCriguard({ upstream: upstream.socket, extraArgs: ['--config', config] });
  t.teardown(async () => {
    await criguard.dispose();
    await upstream.dispose();
  });
  const openConnections = async () =>
    ((await (await fetch(`${criguard.metricsUrl}/status`)).json()) as { connections: number }).connections;
  const noConnections = async () => {
    for (let i = 0; i < 200 && (await openConnections()) > 0; i++) await sleep(50);
  };
  await noConnections(); // the start-up probe's connection is gone
  // A connection with a call open (never idle) takes the only slot.
  upstream.streaming.set('/runtime.v1.RuntimeService/GetContainerEvents', (call) => {
    call.write({ container_id: 'c' });
  });
  const busy = criClients(criguard.socket);
  const events = busy.runtime.GetContainerEvents!({}) as grpc.ClientReadableStream<unknown>;
  events.on('error', () => undefined);
  await new Promise((resolve) => events.once('data', resolve));
  const second = await rawClient(criguard.socket);
  const refused = await second.waitFor((f) => f.type === FrameType.GOAWAY);
  t.is(
    refused?.payload.readUInt32BE(4),
    ErrorCode.ENHANCE_YOUR_CALM,
    'the second connection is over the cap',
  );
  events.cancel();
  busy.close();
  await noConnections();
  const idle = await rawClient(criguard.socket);
  t.truthy(await idle.waitFor((f) => f.type === FrameType.SETTINGS && f.flags === 0));
  const goaway = await idle.waitFor((f) => f.type === FrameType.GOAWAY, 10_000);
  t.is(goaway?.payload.readUInt32BE(4), ErrorCode.NO_ERROR, 'idle: GOAWAY');
  t.true(await idle.closesWithin(10_000), 'idle: closed');
  await noConnections();
  const silent = await rawClient(criguard.socket, { preface: false });
  t.true(await silent.closesWithin(10_000), 'no preface: closed');
  t.deepEqual(silent.frames, [], 'closed by the preface timeout, not refused');
  const [code] = await terminate(criguard);
  t.is(code, 0);
});

test('an idle daemon sleeps: no timer wakes it dozens of times a second', async (t) => {
  const { criguard, clients } = await daemon(t);
  await unary(clients.runtime, 'Version', {});
  await sleep(500); // start-up work (lazy compiles, first GC) settles
  const before = wakeups(criguard.daemon.pid);
  await sleep(3000);
  const perSecond = (wakeups(criguard.daemon.pid) - before) / 3;
  // prom-client's default event-loop monitor (10 ms) made ~200 a second; with it at 500 ms, a handful.
  t.true(perSecond < 40, `${perSecond.toFixed(1)} wake-ups per second`);
});
