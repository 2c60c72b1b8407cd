import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { criMethods } from '../../src/cri/methods.js';
import type { GateDecision } from '../../src/cri/gate.js';
import { GrpcCode } from '../../src/cri/transport/grpc-wire.js';
import { packageDefinition, startFakeUpstream, type FakeUpstream } from '../helpers/fake-cri-upstream.js';
import { criClients, startProxy, unary, type ProxyUnderTest } from '../helpers/proxy-under-test.js';

interface Fixture {
  upstream: FakeUpstream;
  proxy: ProxyUnderTest;
  clients: ReturnType<typeof criClients>;
}

async function setup(
  t: { teardown(fn: () => unknown): void },
  gates?: Parameters<typeof startProxy>[1],
): Promise<Fixture> {
  const upstream = await startFakeUpstream();
  const proxy = await startProxy(upstream.socket, gates);
  const clients = criClients(proxy.socket);
  t.teardown(async () => {
    clients.close();
    await proxy.stop();
    await upstream.dispose();
  });
  return { upstream, proxy, clients };
}

function clientFor(f: Fixture, path: string) {
  return path.startsWith('/runtime.v1.ImageService/') ? f.clients.image : f.clients.runtime;
}

function readStream(call: grpc.ClientReadableStream<unknown>): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const out: unknown[] = [];
    call.on('data', (d) => out.push(d));
    call.on('error', reject);
    call.on('end', () => resolve(out));
  });
}

test('the method table equals the proto, and every RPC passes through to the upstream', async (t) => {
  const f = await setup(t);
  const protoPaths = new Set<string>();
  for (const service of ['RuntimeService', 'ImageService']) {
    for (const m of Object.values(packageDefinition[`runtime.v1.${service}`] as grpc.ServiceDefinition)) {
      protoPaths.add(m.path);
    }
  }
  t.deepEqual(new Set(criMethods.keys()), protoPaths);
  t.is(protoPaths.size, 43);
  for (const method of criMethods.values()) {
    const client = clientFor(f, method.path);
    if (method.serverStreaming) {
      const items = await readStream(client[method.name]!({}) as grpc.ClientReadableStream<unknown>);
      t.is(items.length, 1, method.path);
    } else {
      await unary(client, method.name, {});
    }
  }
  t.deepEqual(new Set(f.upstream.calls.map((c) => c.path)), protoPaths);
});

test('metadata and deadlines reach containerd; status, message and trailers come back unchanged', async (t) => {
  const f = await setup(t);
  f.upstream.unary.set('/runtime.v1.RuntimeService/Version', (call) => {
    const trailers = new grpc.Metadata();
    trailers.set('x-trailer', 'kept');
    trailers.set('x-trailer-bin', Buffer.from([0, 1, 2, 255]));
    throw Object.assign(new Error('boom'), {
      code: grpc.status.FAILED_PRECONDITION,
      details: `version ${String(call.request.version)} refused: ünïcode ✓ 100%`,
      metadata: trailers,
    });
  });
  const metadata = new grpc.Metadata();
  metadata.set('x-request-id', 'abc-123');
  metadata.set('x-blob-bin', Buffer.from([9, 8, 7, 0]));
  const err = await t.throwsAsync<grpc.ServiceError>(
    unary(f.clients.runtime, 'Version', { version: '0.1.0' }, { metadata, deadlineMs: 30_000 }),
  );
  t.is(err.code, grpc.status.FAILED_PRECONDITION);
  t.is(err.details, 'version 0.1.0 refused: ünïcode ✓ 100%');
  t.deepEqual(err.metadata.get('x-trailer'), ['kept']);
  t.deepEqual(err.metadata.get('x-trailer-bin'), [Buffer.from([0, 1, 2, 255])]);
  const seen = f.upstream.calls.at(-1)!;
  t.deepEqual(seen.metadata.get('x-request-id'), ['abc-123']);
  t.deepEqual(seen.metadata.get('x-blob-bin'), [Buffer.from([9, 8, 7, 0])]);
  const deadline = Number(seen.deadline);
  t.true(deadline > Date.now() && deadline <= Date.now() + 30_000, `deadline ${deadline}`);
});

test('responses above 4 MiB (up to 16 MiB) pass, and many calls keep both HPACK legs in step', async (t) => {
  const f = await setup(t);
  const bigImages = Array.from({ length: 1200 }, (_, i) => ({
    id: `sha256:${i.toString(16).padStart(64, '0')}`,
    repo_tags: [`registry.example/team/app-${i}:${'x'.repeat(10_000)}`],
  }));
  f.upstream.unary.set('/runtime.v1.ImageService/ListImages', () => ({ images: bigImages }));
  const { response } = await unary<{ images: Array<{ id: string; repo_tags: string[] }> }>(
    f.clients.image,
    'ListImages',
    {},
  );
  t.is(response.images.length, 1200);
  t.is(response.images[1199]!.repo_tags[0], bigImages[1199]!.repo_tags[0]);

  f.upstream.unary.set('/runtime.v1.RuntimeService/Version', (call) => {
    const reply = new grpc.Metadata();
    reply.set('x-echo', String(call.metadata.get('x-n')[0]));
    call.sendMetadata(reply);
    return { version: String(call.metadata.get('x-n')[0]) };
  });
  const results = await Promise.all(
    Array.from({ length: 200 }, (_, i) => {
      const md = new grpc.Metadata();
      md.set('x-n', `n-${i % 37}-${'y'.repeat(i % 50)}`);
      return unary<{ version: string }>(f.clients.runtime, 'Version', {}, { metadata: md });
    }),
  );
  results.forEach((r, i) => t.is(r.response.version, `n-${i % 37}-${'y'.repeat(i % 50)}`));
});

test('server-streaming calls pass through and cancellation reaches the upstream', async (t) => {
  const f = await setup(t);
  let cancelled = false;
  f.upstream.streaming.set('/runtime.v1.RuntimeService/GetContainerEvents', async (call) => {
    call.on('cancelled', () => {
      cancelled = true;
    });
    for (let i = 0; i < 5; i++) call.write({ container_id: `c${i}` });
    // keep the stream open until the client cancels
  });
  const call = f.clients.runtime.GetContainerEvents!({}) as grpc.ClientReadableStream<{
    container_id: string;
  }>;
  const got: string[] = [];
  await new Promise<void>((resolve) => {
    call.on('data', (d: { container_id: string }) => {
      got.push(d.container_id);
      if (got.length === 5) resolve();
    });
  });
  call.on('error', () => undefined);
  call.cancel();
  t.deepEqual(got, ['c0', 'c1', 'c2', 'c3', 'c4']);
  for (let i = 0; i < 250 && !cancelled; i++) await new Promise((r) => setTimeout(r, 20));
  t.true(cancelled);
});

test('a refused PullImage is answered by criguard and never reaches containerd', async (t) => {
  const seen: Buffer[] = [];
  const f = await setup(t, {
    pullImage: async (request): Promise<GateDecision> => {
      seen.push(request);
      return {
        action: 'reject',
        code: GrpcCode.UNKNOWN,
        message: 'SignatureValidationFailed: no attestation',
      };
    },
  });
  const err = await t.throwsAsync<grpc.ServiceError>(
    unary(f.clients.image, 'PullImage', { image: { image: 'nginx:latest' } }),
  );
  t.is(err.code, grpc.status.UNKNOWN);
  t.is(err.details, 'SignatureValidationFailed: no attestation');
  t.is(seen.length, 1);
  t.deepEqual(f.upstream.started, []);
  // The connection stays healthy for the next call.
  await unary(f.clients.runtime, 'Version', {});
  t.deepEqual(f.upstream.started, ['/runtime.v1.RuntimeService/Version']);
});

test('an allowed CreateContainer of 2 MiB reaches containerd byte for byte after the decision', async (t) => {
  let release!: () => void;
  const decided = new Promise<void>((r) => (release = r));
  const f = await setup(t, {
    createContainer: async (): Promise<GateDecision> => {
      await decided;
      return { action: 'forward' };
    },
  });
  const annotations = Object.fromEntries(Array.from({ length: 2048 }, (_, i) => [`a${i}`, 'v'.repeat(1000)]));
  f.upstream.unary.set('/runtime.v1.RuntimeService/CreateContainer', (call) => ({
    container_id: `n=${Object.keys((call.request.config as { annotations: object }).annotations).length}`,
  }));
  const pending = unary<{ container_id: string }>(f.clients.runtime, 'CreateContainer', {
    pod_sandbox_id: 'pod1',
    config: { metadata: { name: 'c' }, image: { image: 'sha256:abc' }, annotations },
  });
  await new Promise((r) => setTimeout(r, 300));
  t.deepEqual(f.upstream.started, [], 'containerd must not act before the decision');
  release();
  const { response } = await pending;
  t.is(response.container_id, 'n=2048');
});

test('a client that cancels while the gate decides leaves containerd untouched', async (t) => {
  let aborted = false;
  const f = await setup(t, {
    pullImage: (_request, { signal }) =>
      new Promise<GateDecision>((resolve) => {
        signal.addEventListener('abort', () => {
          aborted = true;
          resolve({ action: 'forward' });
        });
      }),
  });
  await unary(f.clients.image, 'ListImages', {}); // connected: the deadline runs while the gate decides
  const call = unary(f.clients.image, 'PullImage', { image: { image: 'x' } }, { deadlineMs: 1000 });
  const err = await t.throwsAsync<grpc.ServiceError>(call);
  t.is(err.code, grpc.status.DEADLINE_EXCEEDED);
  for (let i = 0; i < 250 && !aborted; i++) await new Promise((r) => setTimeout(r, 20));
  t.true(aborted);
  t.deepEqual(f.upstream.started, ['/runtime.v1.ImageService/ListImages']);
});

test('a response check can refuse what containerd answered', async (t) => {
  const f = await setup(t, {
    pullImage: async () => ({
      action: 'forward',
      checkResponse: async (response) =>
        response.includes(Buffer.from('sha256:bad'))
          ? { code: GrpcCode.UNKNOWN, message: 'SignatureValidationFailed: digest changed' }
          : undefined,
    }),
  });
  f.upstream.unary.set('/runtime.v1.ImageService/PullImage', (call) => ({
    image_ref: (call.request.image as { image: string }).image === 'bad' ? 'sha256:bad' : 'sha256:good',
  }));
  const ok = await unary<{ image_ref: string }>(f.clients.image, 'PullImage', { image: { image: 'good' } });
  t.is(ok.response.image_ref, 'sha256:good');
  const err = await t.throwsAsync<grpc.ServiceError>(
    unary(f.clients.image, 'PullImage', { image: { image: 'bad' } }),
  );
  t.is(err.details, 'SignatureValidationFailed: digest changed');
});

test('a gate that throws refuses the call (fail closed)', async (t) => {
  const f = await setup(t, {
    createContainer: async () => {
      throw new Error('bug');
    },
  });
  const err = await t.throwsAsync<grpc.ServiceError>(unary(f.clients.runtime, 'CreateContainer', {}));
  t.is(err.code, grpc.status.UNKNOWN);
  t.deepEqual(f.upstream.started, []);
});

test('services other than the CRI are refused; v1alpha2 cannot bypass the gates', async (t) => {
  const f = await setup(t);
  const raw = new grpc.Client(`unix://${f.proxy.socket}`, grpc.credentials.createInsecure());
  t.teardown(() => raw.close());
  const call = (path: string) =>
    new Promise<grpc.ServiceError>((resolve) =>
      raw.makeUnaryRequest(
        path,
        (x: Buffer) => x,
        (x: Buffer) => x,
        Buffer.alloc(0),
        (err) => resolve(err!),
      ),
    );
  t.is((await call('/containerd.services.images.v1.Images/Create')).code, grpc.status.UNIMPLEMENTED);
  t.is((await call('/runtime.v1alpha2.ImageService/PullImage')).code, grpc.status.PERMISSION_DENIED);
  t.is((await call('/runtime.v1alpha2.RuntimeService/CreateContainer')).code, grpc.status.PERMISSION_DENIED);
  t.deepEqual(f.upstream.started, []);
});

test('containerd down: calls fail fast with UNAVAILABLE, and succeed again once it is back', async (t) => {
  const f = await setup(t);
  await unary(f.clients.runtime, 'Version', {});
  await f.upstream.stop();
  const started = Date.now();
  const err = await t.throwsAsync<grpc.ServiceError>(
    unary(f.clients.runtime, 'Version', {}, { deadlineMs: 5000 }),
  );
  t.is(err.code, grpc.status.UNAVAILABLE);
  t.true(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  await f.upstream.start();
  let ok = false;
  for (let i = 0; i < 40 && !ok; i++) {
    try {
      await unary(f.clients.runtime, 'Version', {}, { deadlineMs: 2000 });
      ok = true;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  t.true(ok, 'calls succeed again without restarting criguard');
});

test('a graceful stop lets unary calls in flight finish and cuts server streams', async (t) => {
  const f = await setup(t);
  f.upstream.unary.set('/runtime.v1.RuntimeService/ExecSync', async () => {
    await new Promise((r) => setTimeout(r, 500));
    return { exit_code: 7 };
  });
  f.upstream.streaming.set('/runtime.v1.RuntimeService/GetContainerEvents', async (call) => {
    call.write({ container_id: 'a' });
  });
  const events = f.clients.runtime.GetContainerEvents!({}) as grpc.ClientReadableStream<unknown>;
  events.on('error', () => undefined);
  const slow = unary<{ exit_code: number }>(f.clients.runtime, 'ExecSync', { container_id: 'x' });
  for (let i = 0; i < 200 && !f.upstream.started.includes('/runtime.v1.RuntimeService/ExecSync'); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const cut = await f.proxy.server.stop(5000);
  t.is(cut, 0);
  t.is((await slow).response.exit_code, 7);
});
