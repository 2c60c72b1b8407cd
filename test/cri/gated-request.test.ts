/**
 * A gated request through its port (no sockets): the message goes upstream except its last byte until the
 * gate decides; allowed releases the rest with END_STREAM, every refusal goes through `reject`, and a
 * decision for a call no longer current changes nothing.
 */
import test from 'ava';
import type { Socket } from 'node:net';
import type { GateDecision, Rejection } from '../../src/cri/transport/contract.js';
import {
  Flag,
  FrameSplitter,
  FrameType,
  encodeFrame,
  type FrameView,
} from '../../src/cri/transport/frames.js';
import { GatedRequests, type GatedCalls } from '../../src/cri/transport/gated-request.js';
import { GrpcCode } from '../../src/cri/transport/grpc-wire.js';
import { Leg } from '../../src/cri/transport/leg.js';
import { StreamTable, type StreamState } from '../../src/cri/transport/stream-table.js';

interface Sent {
  type: number;
  flags: number;
  payload: Buffer;
}

function grpcMessage(body: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

function dataFrame(payload: Buffer, flags = 0): FrameView {
  let view: FrameView | undefined;
  new FrameSplitter().push(encodeFrame(FrameType.DATA, flags, 1, payload), (_b, f) => (view = { ...f }));
  return view!;
}

function setup(decide: (request: Buffer) => Promise<GateDecision>, limits = { maxMessageSize: 1024 }) {
  const sent: Sent[] = [];
  const socket = {
    write: (bytes: Buffer) => {
      new FrameSplitter().push(bytes, (_b, f) =>
        sent.push({ type: f.type, flags: f.flags, payload: Buffer.from(f.payload) }),
      );
      return true;
    },
  } as unknown as Socket;
  const upstream = new Leg(socket, 8192);
  const streams = new StreamTable();
  const rejected: Rejection[] = [];
  const ended: number[] = [];
  const credited: number[] = [];
  let holdLimit = Infinity;
  let held = 0;
  const calls: GatedCalls = {
    hold: (stream, bytes) => {
      if (held + bytes > holdLimit) {
        calls.reject(stream, { code: GrpcCode.RESOURCE_EXHAUSTED, message: 'held' });
        return false;
      }
      held += bytes;
      return true;
    },
    release: () => {
      held = 0;
    },
    reject: (stream, rejection) => {
      stream.mode = 'local';
      rejected.push(rejection);
    },
    endFromClient: (stream) => ended.push(stream.id),
    creditClient: (_id, bytes) => credited.push(bytes),
    guard: (fn) => fn(),
    isCurrent: (stream) => streams.isCurrent(stream),
  };
  const gated = new GatedRequests(upstream, calls, {
    limits,
    logger: { warn: () => undefined },
  });
  const stream: StreamState = streams.open(1, 'gated', {
    serverStreaming: false,
    clientEnded: false,
    upstreamEnded: false,
    abort: new AbortController(),
  });
  gated.open(
    stream,
    { streamId: 1, flags: Flag.END_HEADERS, priority: undefined, fragment: Buffer.alloc(0) },
    [],
    '/p',
    decide,
  );
  return {
    gated,
    stream,
    streams,
    sent,
    rejected,
    ended,
    credited,
    limitHeld: (n: number) => (holdLimit = n),
    dataSent: () => Buffer.concat(sent.filter((s) => s.type === FrameType.DATA).map((s) => s.payload)),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

test('the last byte waits for the gate; allowed, it follows with END_STREAM', async (t) => {
  let release!: (d: GateDecision) => void;
  let seen: Buffer | undefined;
  const f = setup((request) => {
    seen = request;
    return new Promise((r) => (release = r));
  });
  t.is(f.sent[0]!.type, FrameType.HEADERS);
  t.false((f.sent[0]!.flags & Flag.END_STREAM) !== 0, 'END_STREAM waits with the held bytes');
  const message = grpcMessage(Buffer.from('pull this image'));
  f.gated.onData(f.stream, dataFrame(message.subarray(0, 7)));
  f.gated.onData(f.stream, dataFrame(message.subarray(7), Flag.END_STREAM));
  t.deepEqual(f.dataSent(), message.subarray(0, -1), 'all but the last byte went upstream');
  t.deepEqual(seen, Buffer.from('pull this image'), 'the gate read the whole message');
  release({ action: 'forward' });
  await tick();
  t.deepEqual(f.dataSent(), message);
  t.is(f.sent.at(-1)!.flags & Flag.END_STREAM, Flag.END_STREAM);
  t.is(f.stream.mode, 'pass');
  t.deepEqual(f.ended, [1]);
  t.deepEqual(f.rejected, []);
});

test('refused: the last byte is never sent, and the refusal is the gate’s', async (t) => {
  const f = setup(() =>
    Promise.resolve({ action: 'reject', code: GrpcCode.PERMISSION_DENIED, message: 'no' }),
  );
  const message = grpcMessage(Buffer.from('x'));
  f.gated.onData(f.stream, dataFrame(message, Flag.END_STREAM));
  await tick();
  t.deepEqual(f.dataSent(), message.subarray(0, -1));
  t.deepEqual(f.rejected, [{ action: 'reject', code: GrpcCode.PERMISSION_DENIED, message: 'no' }]);
});

test('a gate that throws or rejects refuses the call UNKNOWN (fail closed)', async (t) => {
  for (const decide of [
    () => {
      throw new Error('boom');
    },
    () => Promise.reject(new Error('boom')),
  ]) {
    const f = setup(decide as () => Promise<GateDecision>);
    f.gated.onData(f.stream, dataFrame(grpcMessage(Buffer.from('x')), Flag.END_STREAM));
    await tick();
    t.is(f.rejected[0]?.code, GrpcCode.UNKNOWN);
    t.is(f.stream.mode, 'local');
  }
});

test('a message announced over the bound is refused before the gate sees it', (t) => {
  let asked = false;
  const f = setup(
    () => {
      asked = true;
      return Promise.resolve({ action: 'forward' });
    },
    { maxMessageSize: 8 },
  );
  f.gated.onData(f.stream, dataFrame(grpcMessage(Buffer.alloc(9))));
  t.is(f.rejected[0]?.code, GrpcCode.RESOURCE_EXHAUSTED);
  t.false(asked);
});

test('a request cut short (END_STREAM before the whole message) is refused INTERNAL', (t) => {
  const f = setup(() => Promise.resolve({ action: 'forward' }));
  f.gated.onData(f.stream, dataFrame(grpcMessage(Buffer.from('abcdef')).subarray(0, 8), Flag.END_STREAM));
  t.is(f.rejected[0]?.code, GrpcCode.INTERNAL);
  t.regex(f.rejected[0]!.message, /incomplete/);
});

test('bytes over the held bound are credited back to the client, and the call refused', (t) => {
  const f = setup(() => Promise.resolve({ action: 'forward' }));
  f.limitHeld(4);
  f.gated.onData(f.stream, dataFrame(grpcMessage(Buffer.from('abcdef'))));
  t.is(f.rejected[0]?.code, GrpcCode.RESOURCE_EXHAUSTED);
  t.deepEqual(f.credited, [11]);
  t.deepEqual(f.dataSent(), Buffer.alloc(0), 'nothing went upstream');
});

test('a decision for a call no longer tracked changes nothing', async (t) => {
  let release!: (d: GateDecision) => void;
  const f = setup(() => new Promise((r) => (release = r)));
  const message = grpcMessage(Buffer.from('x'));
  f.gated.onData(f.stream, dataFrame(message, Flag.END_STREAM));
  f.streams.remove(f.stream);
  t.true(f.stream.abort!.signal.aborted, 'the gate was told');
  release({ action: 'forward' });
  await tick();
  t.deepEqual(f.dataSent(), message.subarray(0, -1), 'the last byte was never sent');
  t.deepEqual(f.ended, []);
});
