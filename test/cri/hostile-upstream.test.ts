/**
 * Nothing the upstream sends may crash criguard or leave a call hanging. A hostile upstream written for
 * these tests answers criguard's own calls (containerd-client over node:http2) and the proxied calls
 * (the connection bridge) with malformed statuses, messages, header blocks and frames; every call must
 * fail cleanly. An uncaught exception here fails the test run (what crashed the daemon before).
 */
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createH2Server, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createContainerdClient } from '../../src/cri/containerd-client.js';
import type { GateDecision } from '../../src/cri/gate.js';
import { encodeCriMessage } from '../../src/cri/proto.js';
import {
  Flag,
  FrameType,
  SETTINGS_ACK,
  encodeFrame,
  encodeHeaderBlock,
  encodeSettings,
} from '../../src/cri/transport/frames.js';
import { percentDecode } from '../../src/cri/transport/grpc-wire.js';
import { HeaderBlockEncoder } from '../../src/cri/transport/hpack-codec.js';
import { criClients, startProxy, unary } from '../helpers/proxy-under-test.js';
import { grpcMessage, rawServer, type RawPeer } from '../helpers/raw-h2.js';

function scratch(t: { teardown(fn: () => unknown): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cgh-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A node:http2 upstream whose every answer is written by `answer`. */
async function h2Upstream(
  t: { teardown(fn: () => unknown): void },
  answer: (stream: ServerHttp2Stream) => void,
): Promise<string> {
  const socket = join(scratch(t), 'up.sock');
  const server: Http2Server = createH2Server();
  server.on('stream', (stream) => {
    stream.on('error', () => undefined);
    stream.resume();
    stream.on('end', () => answer(stream));
  });
  server.on('sessionError', () => undefined);
  await new Promise<void>((r) => server.listen(socket, r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return socket;
}

const prefixed = (body: Buffer, compressed = 0) => {
  const out = grpcMessage(body);
  out[0] = compressed;
  return out;
};

const statusCases: Array<[string, (s: ServerHttp2Stream) => void]> = [
  [
    'a malformed grpc-message in the trailers',
    (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.on('wantTrailers', () =>
        s.sendTrailers({ 'grpc-status': '13', 'grpc-message': '%E0%A4%A bad %ZZ %' }),
      );
      s.end();
    },
  ],
  [
    'a malformed grpc-message in a trailers-only answer',
    (s) => {
      s.respond({ ':status': 200, 'grpc-status': '2', 'grpc-message': '%' }, { endStream: true });
    },
  ],
  [
    'a grpc-status that is not a number',
    (s) => {
      s.respond({ ':status': 200, 'grpc-status': 'banana', 'grpc-message': '%C3%28' }, { endStream: true });
    },
  ],
  [
    'no grpc-status at all',
    (s) => {
      s.respond({ ':status': 200 });
      s.end(prefixed(Buffer.alloc(0)));
    },
  ],
  [
    'an HTTP error status',
    (s) => {
      s.respond({ ':status': 502 }, { endStream: true });
    },
  ],
  [
    'an OK answer whose message is not protobuf',
    (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end(prefixed(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])));
    },
  ],
  [
    'an OK answer with a compressed message and no grpc-encoding',
    (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end(prefixed(gzipSync(Buffer.from('x')), 1));
    },
  ],
  [
    'an OK answer with a truncated message',
    (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end(prefixed(Buffer.alloc(100)).subarray(0, 20));
    },
  ],
  [
    'a reset stream',
    (s) => {
      s.close(2);
    },
  ],
];

for (const [name, answer] of statusCases) {
  test(`criguard's own calls to containerd fail cleanly on ${name}`, async (t) => {
    const socket = await h2Upstream(t, answer);
    const client = createContainerdClient(socket);
    t.teardown(() => client.close());
    const err = await t.throwsAsync<Error & { code?: string }>(
      client.lookup('registry.example/app:1', new AbortController().signal),
    );
    t.is(err.code, 'CG_ERR_UPSTREAM', err.message);
    t.false(await client.ping());
    await t.throwsAsync(client.listRunning(new AbortController().signal));
  });
}

/** A raw HTTP/2 upstream: SETTINGS, then `answer(peer, streamId)` for the first request it sees. */
async function rawUpstream(
  t: { teardown(fn: () => unknown): void },
  answer: (peer: RawPeer, streamId: number) => void,
): Promise<string> {
  const socket = join(scratch(t), 'raw.sock');
  const server = await rawServer(socket, (peer) => {
    peer.send(encodeSettings());
    void (async () => {
      await peer.waitFor((f) => f.type === FrameType.SETTINGS && f.flags === 0);
      peer.send(SETTINGS_ACK);
      const request = await peer.waitFor((f) => f.type === FrameType.HEADERS);
      if (request) answer(peer, request.streamId);
    })().catch(() => peer.destroy());
  });
  t.teardown(() => {
    for (const p of server.peers) p.destroy();
    server.close();
  });
  return socket;
}

const encoder = () => new HeaderBlockEncoder();
const ok = [
  { name: ':status', value: '200', neverIndex: false },
  { name: 'content-type', value: 'application/grpc', neverIndex: false },
];
const headersFrame = (id: number, block: Buffer, flags: number = Flag.END_HEADERS) =>
  encodeFrame(FrameType.HEADERS, flags, id, block);

const frameCases: Array<[string, (peer: RawPeer, id: number) => void]> = [
  [
    'a header block that is not HPACK',
    (p, id) => p.send(headersFrame(id, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]))),
  ],
  ['HEADERS on stream 0', (p) => p.send(headersFrame(0, encoder().encode(ok)))],
  [
    'CONTINUATION without HEADERS',
    (p, id) => p.send(encodeFrame(FrameType.CONTINUATION, Flag.END_HEADERS, id, Buffer.alloc(3))),
  ],
  [
    'a PUSH_PROMISE',
    (p, id) => p.send(encodeFrame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, id, Buffer.alloc(8))),
  ],
  ['a SETTINGS frame of 5 bytes', (p) => p.send(encodeFrame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5)))],
  ['an out-of-range SETTINGS_MAX_FRAME_SIZE', (p) => p.send(encodeSettings([[0x5, 1]]))],
  [
    'a frame above the advertised maximum size',
    (p, id) => p.send(encodeFrame(FrameType.DATA, 0, id, Buffer.alloc(70_000))),
  ],
  [
    'a header block that never ends',
    (p, id) => {
      p.send(headersFrame(id, Buffer.alloc(0), 0));
      for (let i = 0; i < 80; i++)
        p.send(encodeFrame(FrameType.CONTINUATION, 0, id, Buffer.alloc(16_000, 0x40)));
    },
  ],
  [
    'a connection closed mid-answer',
    (p, id) => {
      for (const f of encodeHeaderBlock(id, encoder().encode(ok), 0)) p.send(f);
      p.socket.end();
    },
  ],
];

for (const [name, answer] of frameCases) {
  test(`a proxied call fails cleanly on ${name} from the upstream`, async (t) => {
    const upstream = await rawUpstream(t, answer);
    const proxy = await startProxy(upstream);
    const clients = criClients(proxy.socket);
    t.teardown(async () => {
      clients.close();
      await proxy.stop();
    });
    const err = await t.throwsAsync<grpc.ServiceError>(
      unary(clients.runtime, 'Version', {}, { deadlineMs: 10_000 }),
    );
    t.not(err.code, grpc.status.DEADLINE_EXCEEDED, 'the call failed at once, it did not hang');
    for (let i = 0; i < 100 && proxy.server.connections > 0; i++) await new Promise((r) => setTimeout(r, 20));
    t.is(proxy.server.connections, 0, 'the broken connection was closed');
  });
}

test('a held PullImage answer that cannot be read is refused (fail closed)', async (t) => {
  const upstream = await h2Upstream(t, (s) => {
    s.respond(
      { ':status': 200, 'content-type': 'application/grpc', 'grpc-encoding': 'gzip' },
      { waitForTrailers: true },
    );
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(prefixed(Buffer.from('not gzip at all'), 1));
  });
  let checked = false;
  const proxy = await startProxy(upstream, {
    pullImage: async (): Promise<GateDecision> => ({
      action: 'forward',
      checkResponse: async () => {
        checked = true;
        return undefined;
      },
    }),
  });
  const clients = criClients(proxy.socket);
  t.teardown(async () => {
    clients.close();
    await proxy.stop();
  });
  const err = await t.throwsAsync<grpc.ServiceError>(
    unary(clients.image, 'PullImage', { image: { image: 'x' } }, { deadlineMs: 10_000 }),
  );
  t.is(err.code, grpc.status.INTERNAL);
  t.regex(err.details, /unreadable response/);
  t.false(checked);
});

test('grpc-message decoding never throws and keeps what it cannot decode', (t) => {
  t.is(percentDecode('a%20b%25'), 'a b%');
  t.is(percentDecode('%C3%BC'), 'ü');
  t.is(percentDecode('%'), '%');
  t.is(percentDecode('%ZZ%4'), '%ZZ%4');
  t.is(percentDecode('%E0%A4%A'), '\uFFFD%A');
  t.notThrows(() => percentDecode(String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i))));
  t.is(encodeCriMessage('VersionRequest', {}).length, 0);
});
