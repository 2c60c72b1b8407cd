/**
 * What one client of criguard's socket can make criguard hold: memory (backpressure, held calls, frame
 * sizes), descriptors (preface and idle timeouts, lazy upstream connections, a connection cap). Raw HTTP/2
 * clients written for these tests play the hostile client; an in-process grpc-js server plays containerd.
 */
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GateDecision } from '../../src/cri/gate.js';
import type { ProxyLimits } from '../../src/cri/proxy-server.js';
import {
  ErrorCode,
  FrameType,
  Setting,
  encodeFrame,
  encodeWindowUpdate,
} from '../../src/cri/transport/frames.js';
import { startFakeUpstream } from '../helpers/fake-cri-upstream.js';
import { criClients, startProxy, unary } from '../helpers/proxy-under-test.js';
import { grpcMessage, grpcRequestHeaders, rawClient, type RawPeer } from '../helpers/raw-h2.js';

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function setup(
  t: { teardown(fn: () => unknown): void },
  limits: Partial<ProxyLimits> = {},
  gates: Parameters<typeof startProxy>[1] = {},
  upstreamSocket?: string,
) {
  const upstream = await startFakeUpstream();
  const proxy = await startProxy(upstreamSocket ?? upstream.socket, gates, limits);
  const peers: RawPeer[] = [];
  t.teardown(async () => {
    for (const p of peers) p.destroy();
    await proxy.stop();
    await upstream.dispose();
  });
  const connect = async (options?: Parameters<typeof rawClient>[1]) => {
    const peer = await rawClient(proxy.socket, options);
    peers.push(peer);
    return peer;
  };
  return { upstream, proxy, connect };
}

/** Samples `value()` every 50 ms for `ms` and returns the largest value seen. */
async function peak(value: () => number, ms: number): Promise<number> {
  let max = value();
  for (const end = Date.now() + ms; Date.now() < end;) {
    await sleep(50);
    max = Math.max(max, value());
  }
  return max;
}

/** A scratch directory removed at teardown. */
function scratch(t: { teardown(fn: () => unknown): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cgl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const isGoaway = (f: { type: number }) => f.type === FrameType.GOAWAY;
const goawayCode = (f: { payload: Buffer }) => f.payload.readUInt32BE(4);

test('a client that never reads cannot make criguard buffer what containerd answers', async (t) => {
  const f = await setup(t);
  const images = Array.from({ length: 100 }, (_, i) => ({
    id: `sha256:${i}`,
    repo_tags: ['x'.repeat(10_000)],
  }));
  f.upstream.unary.set('/runtime.v1.ImageService/ListImages', () => ({ images })); // ~1 MiB per answer
  // Huge flow-control windows: containerd may send everything at once; only backpressure can hold it.
  const client = await f.connect({ read: false, settings: [[Setting.INITIAL_WINDOW_SIZE, 2 ** 31 - 1]] });
  client.send(encodeWindowUpdate(0, 2 ** 31 - 1 - 65_535));
  const calls = 48;
  for (let i = 0; i < calls; i++) {
    const id = 1 + 2 * i;
    client.headers(id, grpcRequestHeaders('/runtime.v1.ImageService/ListImages'));
    client.data(id, grpcMessage(), true);
  }
  for (let i = 0; i < 200 && f.upstream.started.length < calls; i++) await sleep(50);
  t.is(f.upstream.started.length, calls, 'every call reached the upstream');
  const max = await peak(() => f.proxy.server.bufferedBytes, 1500);
  t.log(`peak buffered: ${(max / MiB).toFixed(2)} MiB of ${calls} MiB answered`);
  t.true(max < 4 * MiB, `criguard buffered ${max} bytes`);
});

test('a client that ignores flow control cannot make criguard buffer what containerd does not read', async (t) => {
  const dir = scratch(t);
  const stalled = createServer((s: Socket) => s.pause()); // accepts, never reads
  await new Promise<void>((r) => stalled.listen(join(dir, 'up.sock'), r));
  t.teardown(() => stalled.close());
  const f = await setup(t, {}, {}, join(dir, 'up.sock'));
  const client = await f.connect();
  client.headers(1, grpcRequestHeaders('/runtime.v1.RuntimeService/Version'));
  const chunk = encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(16_384));
  let sent = 0;
  const sampler = peak(() => f.proxy.server.bufferedBytes, 3000);
  while (sent < 64 * MiB) {
    if (client.send(chunk)) {
      sent += chunk.length;
      continue;
    }
    sent += chunk.length;
    const drained = await Promise.race([
      new Promise<boolean>((r) => client.socket.once('drain', () => r(true))),
      sleep(1000).then(() => false),
    ]);
    if (!drained) break;
  }
  const max = await sampler;
  t.log(
    `client pushed ${(sent / MiB).toFixed(1)} MiB before stalling; peak buffered ${(max / MiB).toFixed(2)} MiB`,
  );
  t.true(sent < 64 * MiB, 'the client is stalled by backpressure');
  t.true(max < 4 * MiB, `criguard buffered ${max} bytes`);
});

test('a frame larger than the advertised maximum frame size is a connection error, never buffered', async (t) => {
  const f = await setup(t);
  const client = await f.connect();
  client.headers(1, grpcRequestHeaders('/runtime.v1.RuntimeService/Version'));
  const header = Buffer.alloc(9);
  header.writeUIntBE(16 * MiB - 1, 0, 3); // announces a 16 MiB DATA frame; the maximum is 16 KiB
  header[3] = FrameType.DATA;
  header.writeUInt32BE(1, 5);
  client.send(Buffer.concat([header, Buffer.alloc(256 * 1024)]));
  const goaway = await client.waitFor(isGoaway, 5000);
  t.truthy(goaway, 'GOAWAY received');
  t.is(goawayCode(goaway!), ErrorCode.FRAME_SIZE_ERROR);
  t.true(await client.closesWithin(5000), 'the connection is closed');
  t.is(f.proxy.server.bufferedBytes, 0);
});

test('connections that never send the preface are closed and never reach containerd', async (t) => {
  const dir = scratch(t);
  let upstreamConnections = 0;
  const counting = createServer((s: Socket) => {
    upstreamConnections += 1;
    s.destroy();
  });
  await new Promise<void>((r) => counting.listen(join(dir, 'up.sock'), r));
  t.teardown(() => counting.close());
  const f = await setup(t, { prefaceTimeoutMs: 300 }, {}, join(dir, 'up.sock'));
  const silent = await Promise.all(Array.from({ length: 20 }, () => f.connect({ preface: false })));
  const closed = await Promise.all(silent.map((p) => p.closesWithin(5000)));
  t.deepEqual(closed, Array(20).fill(true), 'every silent connection was closed');
  t.is(upstreamConnections, 0, 'no upstream connection was opened for them');
  for (let i = 0; i < 50 && f.proxy.server.connections > 0; i++) await sleep(20);
  t.is(f.proxy.server.connections, 0);
});

test('an idle connection is closed with GOAWAY (NO_ERROR); a gRPC client reconnects on its next call', async (t) => {
  const f = await setup(t, { idleTimeoutMs: 300 });
  const raw = await f.connect();
  const goaway = await raw.waitFor(isGoaway, 5000);
  t.is(goaway && goawayCode(goaway), ErrorCode.NO_ERROR);
  t.true(await raw.closesWithin(5000));

  const clients = criClients(f.proxy.socket);
  t.teardown(() => clients.close());
  t.is((await unary<{ version: string }>(clients.runtime, 'Version', {})).response.version, '');
  for (let i = 0; i < 250 && f.proxy.server.connections > 0; i++) await sleep(20);
  t.is(f.proxy.server.connections, 0, 'the idle grpc-js connection was closed');
  await unary(clients.runtime, 'Version', {});
  t.is(f.upstream.started.length, 2, 'the next call succeeded on a new connection');
});

test('a connection with a call open (a server stream) is never idle', async (t) => {
  const f = await setup(t, { idleTimeoutMs: 200 });
  let write: ((id: string) => void) | undefined;
  f.upstream.streaming.set('/runtime.v1.RuntimeService/GetContainerEvents', async (call) => {
    write = (id) => call.write({ container_id: id });
    write('first');
  });
  const clients = criClients(f.proxy.socket);
  t.teardown(() => clients.close());
  const events = clients.runtime.GetContainerEvents!({}) as grpc.ClientReadableStream<{
    container_id: string;
  }>;
  const got: string[] = [];
  events.on('data', (e: { container_id: string }) => got.push(e.container_id));
  events.on('error', () => undefined);
  for (let i = 0; i < 100 && got.length === 0; i++) await sleep(20);
  await sleep(1000); // five idle periods
  write!('second');
  for (let i = 0; i < 100 && got.length < 2; i++) await sleep(20);
  t.deepEqual(got, ['first', 'second']);
  t.is(f.proxy.server.connections, 1);
  events.cancel();
});

test('connections above the cap are refused with GOAWAY (ENHANCE_YOUR_CALM); a freed slot is reused', async (t) => {
  const f = await setup(t, { maxConnections: 3 });
  const isSettings = (fr: { type: number; flags: number }) =>
    fr.type === FrameType.SETTINGS && fr.flags === 0;
  const first = await Promise.all([f.connect(), f.connect(), f.connect()]);
  for (const p of first) t.truthy(await p.waitFor(isSettings, 5000), 'served');
  const extra = await f.connect();
  const goaway = await extra.waitFor(isGoaway, 5000);
  t.is(goaway && goawayCode(goaway), ErrorCode.ENHANCE_YOUR_CALM);
  t.regex(goaway!.payload.subarray(8).toString(), /too many connections/);
  t.true(await extra.closesWithin(5000));
  first[0]!.destroy();
  for (let i = 0; i < 100 && f.proxy.server.connections > 2; i++) await sleep(20);
  const next = await f.connect();
  t.truthy(await next.waitFor(isSettings, 5000));
  t.falsy(next.frames.find(isGoaway));
  t.is(f.proxy.server.connections, 3);
});

test('held calls are bounded per connection: beyond the bound a call is refused, the others go on', async (t) => {
  let release!: () => void;
  const decided = new Promise<void>((r) => (release = r));
  const f = await setup(
    t,
    { maxHeldBytes: MiB },
    {
      createContainer: async (): Promise<GateDecision> => {
        await decided;
        return { action: 'forward' };
      },
    },
  );
  const clients = criClients(f.proxy.socket);
  t.teardown(() => clients.close());
  const big = (name: string) => ({
    pod_sandbox_id: 'pod',
    config: { metadata: { name }, annotations: { a: 'v'.repeat(600 * 1024) } },
  });
  const first = unary<{ container_id: string }>(clients.runtime, 'CreateContainer', big('one'));
  // The whole first request is held before the second starts.
  for (let i = 0; i < 500 && f.proxy.server.bufferedBytes < 600 * 1024; i++) await sleep(20);
  const err = await t.throwsAsync<grpc.ServiceError>(
    unary(clients.runtime, 'CreateContainer', big('two'), { deadlineMs: 10_000 }),
  );
  t.is(err.code, grpc.status.RESOURCE_EXHAUSTED);
  t.regex(err.details, /too much data held/);
  release();
  await first;
  t.deepEqual(f.upstream.started, ['/runtime.v1.RuntimeService/CreateContainer']);
});

test('held calls are bounded across connections too, and the budget comes back when calls end', async (t) => {
  let release!: () => void;
  const decided = new Promise<void>((r) => (release = r));
  const f = await setup(
    t,
    { maxHeldBytes: 4 * MiB, maxHeldBytesTotal: MiB },
    {
      createContainer: async (): Promise<GateDecision> => {
        await decided;
        return { action: 'forward' };
      },
    },
  );
  // Two clients with connections of their own.
  const a = criClients(f.proxy.socket, { 'grpc.use_local_subchannel_pool': 1 });
  const b = criClients(f.proxy.socket, { 'grpc.use_local_subchannel_pool': 1 });
  t.teardown(() => {
    a.close();
    b.close();
  });
  const big = (name: string) => ({
    pod_sandbox_id: 'pod',
    config: { metadata: { name }, annotations: { a: 'v'.repeat(600 * 1024) } },
  });
  const first = unary(a.runtime, 'CreateContainer', big('one'));
  for (let i = 0; i < 500 && f.proxy.server.bufferedBytes < 600 * 1024; i++) await sleep(20);
  const err = await t.throwsAsync<grpc.ServiceError>(
    unary(b.runtime, 'CreateContainer', big('two'), { deadlineMs: 10_000 }),
  );
  t.is(err.code, grpc.status.RESOURCE_EXHAUSTED);
  t.is(f.proxy.server.connections, 2, 'the refusal came from the daemon-wide budget');
  release();
  await first;
  await unary(b.runtime, 'CreateContainer', big('three'), { deadlineMs: 10_000 });
  t.is(f.upstream.started.length, 2, 'once the first call ended, the budget admitted another');
});
