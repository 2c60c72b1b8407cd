/**
 * The degraded-mode responder through its writer interface (no sockets): SETTINGS answered with ACK,
 * PING echoed, DATA credited back, a new call answered UNAVAILABLE, GOAWAY scheduled once, then close.
 */
import test from 'ava';
import type { Rejection } from '../../src/cri/transport/contract.js';
import { DegradedResponder, type DegradedWriter } from '../../src/cri/transport/degraded-responder.js';
import {
  ErrorCode,
  Flag,
  FrameSplitter,
  FrameType,
  SETTINGS_ACK,
  encodeGoaway,
  encodeSettings,
  type FrameView,
} from '../../src/cri/transport/frames.js';
import { GrpcCode } from '../../src/cri/transport/grpc-wire.js';

type Call =
  | { op: 'write'; bytes: Buffer }
  | { op: 'credit'; bytes: number }
  | { op: 'decode'; bytes: number }
  | { op: 'open'; id: number; clientEnded: boolean }
  | { op: 'answer'; id: number; rejection: Rejection }
  | { op: 'end'; id: number }
  | { op: 'forget'; id: number }
  | { op: 'close' };

interface Setup {
  responder: DegradedResponder;
  calls: Call[];
  warned: string[];
  /** Closes the connection the way the bridge would (not recorded). */
  closeNow: () => void;
}

function setup(): Setup {
  const calls: Call[] = [];
  const streams = new Set<number>();
  const warned: string[] = [];
  let closed = false;
  const writer: DegradedWriter = {
    writeClient: (bytes) => calls.push({ op: 'write', bytes }),
    creditClient: (bytes) => calls.push({ op: 'credit', bytes }),
    decodeClientHeaders: (block) => calls.push({ op: 'decode', bytes: block.length }),
    hasStream: (id) => streams.has(id),
    openLocalStream: (id, clientEnded) => {
      streams.add(id);
      calls.push({ op: 'open', id, clientEnded });
    },
    answerLocally: (id, rejection) => {
      calls.push({ op: 'answer', id, rejection });
      responder.afterLocalAnswer();
    },
    endFromClient: (id) => calls.push({ op: 'end', id }),
    forget: (id) => {
      streams.delete(id);
      calls.push({ op: 'forget', id });
    },
    lastClientStream: () => Math.max(0, ...streams),
    isClosed: () => closed,
    closeGracefully: () => {
      closed = true;
      calls.push({ op: 'close' });
    },
  };
  const responder = new DegradedResponder(writer, {
    upstreamName: 'containerd',
    logger: { warn: (_f, message) => warned.push(message) },
  });
  return { responder, calls, warned, closeNow: () => (closed = true) };
}

function frame(type: number, flags: number, streamId: number, payload = Buffer.alloc(0)): FrameView {
  return { type, flags, streamId, payload, start: 0, end: 9 + payload.length };
}

const refused = (err: string): NodeJS.ErrnoException => Object.assign(new Error(err), { code: err });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Waits for `done` (checked every 10 ms, for 10 s at most): a busy event loop delays timers, not outcomes. */
async function until(done: () => boolean): Promise<void> {
  for (const end = Date.now() + 10_000; !done() && Date.now() < end;) await sleep(10);
}

test('inactive until entered; entering sends SETTINGS once the preface came and reports it', (t) => {
  const { responder, calls, warned } = setup();
  t.false(responder.active);
  responder.enter(refused('ECONNREFUSED'), true);
  t.true(responder.active);
  t.deepEqual(calls, [{ op: 'write', bytes: encodeSettings() }]);
  t.deepEqual(warned, ['upstream unreachable; answering UNAVAILABLE']);
  const other = setup();
  other.responder.enter(refused('ENOENT'), false);
  t.deepEqual(other.calls, []);
});

test('SETTINGS answered with ACK, PING echoed, ACKs not answered', (t) => {
  const { responder, calls } = setup();
  responder.enter(refused('ECONNREFUSED'), false);
  responder.onFrame(frame(FrameType.SETTINGS, 0, 0));
  responder.onFrame(frame(FrameType.SETTINGS, Flag.ACK, 0));
  const opaque = Buffer.from('01234567');
  responder.onFrame(frame(FrameType.PING, 0, 0, opaque));
  responder.onFrame(frame(FrameType.PING, Flag.ACK, 0, opaque));
  t.is(calls.length, 2);
  t.deepEqual(calls[0], { op: 'write', bytes: SETTINGS_ACK });
  const written = calls[1] as { op: 'write'; bytes: Buffer };
  const frames: FrameView[] = [];
  new FrameSplitter(16_384).push(written.bytes, (_b, f) =>
    frames.push({ ...f, payload: Buffer.from(f.payload) }),
  );
  t.is(frames.length, 1);
  t.is(frames[0]!.type, FrameType.PING);
  t.is(frames[0]!.flags, Flag.ACK);
  t.deepEqual(frames[0]!.payload, opaque);
});

test('DATA is credited back and ends the client side; RST_STREAM forgets the stream', (t) => {
  const { responder, calls } = setup();
  responder.enter(refused('ECONNREFUSED'), false);
  responder.onFrame(frame(FrameType.DATA, 0, 1, Buffer.alloc(100)));
  responder.onFrame(frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.alloc(5)));
  responder.onFrame(frame(FrameType.RST_STREAM, 0, 3, Buffer.alloc(4)));
  t.deepEqual(calls, [
    { op: 'credit', bytes: 100 },
    { op: 'credit', bytes: 5 },
    { op: 'end', id: 1 },
    { op: 'forget', id: 3 },
  ]);
});

test('a new call is answered UNAVAILABLE; GOAWAY is sent once, then the connection closes', async (t) => {
  const { responder, calls } = setup();
  responder.enter(refused('ECONNREFUSED'), false);
  responder.onHeaders(1, Flag.END_HEADERS, Buffer.from([0x82]));
  responder.onHeaders(1, Flag.END_HEADERS | Flag.END_STREAM, Buffer.from([0x82]));
  responder.onHeaders(3, Flag.END_HEADERS | Flag.END_STREAM, Buffer.from([0x82, 0x84]));
  const unavailable = { code: GrpcCode.UNAVAILABLE, message: 'criguard: containerd is not reachable' };
  t.deepEqual(calls, [
    { op: 'decode', bytes: 1 },
    { op: 'open', id: 1, clientEnded: false },
    { op: 'answer', id: 1, rejection: unavailable },
    { op: 'decode', bytes: 1 },
    { op: 'end', id: 1 },
    { op: 'decode', bytes: 2 },
    { op: 'open', id: 3, clientEnded: true },
    { op: 'answer', id: 3, rejection: unavailable },
  ]);
  calls.length = 0;
  await until(() => calls.some((call) => call.op === 'close'));
  t.deepEqual(calls, [{ op: 'write', bytes: encodeGoaway(3, ErrorCode.NO_ERROR) }, { op: 'close' }]);
});

test('no GOAWAY before degraded mode, nor once the connection closed', async (t) => {
  const before = setup();
  before.responder.afterLocalAnswer();
  await sleep(50);
  t.deepEqual(before.calls, []);
  const { responder, calls, closeNow } = setup();
  responder.enter(refused('ECONNREFUSED'), false);
  responder.afterLocalAnswer();
  closeNow(); // closed before the GOAWAY is due
  await sleep(200);
  t.deepEqual(calls, []);
});
