/**
 * The frame pump on its own (a recording sink, no sockets): runs of forwarded frames leave as one slice
 * per read, a frame handled specially cuts the run and keeps its place in the order, and every write is
 * inside one cork/uncork, even when a handler throws.
 */
import test from 'ava';
import { FrameSplitter, FrameType, encodeFrame, type FrameView } from '../../src/cri/transport/frames.js';
import { pumpFrames, setPaused, type FrameSink } from '../../src/cri/transport/frame-pump.js';

type Event = { op: 'cork' | 'uncork' } | { op: 'write'; bytes: Buffer } | { op: 'special'; type: number };

function sink(events: Event[]): FrameSink {
  return {
    cork: () => events.push({ op: 'cork' }),
    write: (bytes: Buffer) => events.push({ op: 'write', bytes: Buffer.from(bytes) }),
    uncork: () => events.push({ op: 'uncork' }),
  };
}

const ping = (n: number) => encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8, n));
const data = (n: number) => encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(3, n));
const headers = encodeFrame(FrameType.HEADERS, 0x4, 1, Buffer.from('h'));
const isRaw = (f: FrameView) => f.type !== FrameType.HEADERS;

test('consecutive forwarded frames of one read leave as one write of the bytes as they arrived', (t) => {
  const events: Event[] = [];
  const input = Buffer.concat([ping(1), data(2), ping(3)]);
  pumpFrames(new FrameSplitter(), input, sink(events), isRaw, () => t.fail());
  t.deepEqual(events, [{ op: 'cork' }, { op: 'write', bytes: input }, { op: 'uncork' }]);
});

test('a special frame cuts the run and is handled in its place', (t) => {
  const events: Event[] = [];
  const s = sink(events);
  pumpFrames(new FrameSplitter(), Buffer.concat([ping(1), headers, data(2), data(3)]), s, isRaw, (f) =>
    events.push({ op: 'special', type: f.type }),
  );
  t.deepEqual(events, [
    { op: 'cork' },
    { op: 'write', bytes: ping(1) },
    { op: 'special', type: FrameType.HEADERS },
    { op: 'write', bytes: Buffer.concat([data(2), data(3)]) },
    { op: 'uncork' },
  ]);
});

test('a frame cut across reads is forwarded whole with the next read; nothing partial is written', (t) => {
  const events: Event[] = [];
  const splitter = new FrameSplitter();
  const input = Buffer.concat([ping(1), data(2)]);
  pumpFrames(splitter, input.subarray(0, 20), sink(events), isRaw, () => t.fail());
  t.deepEqual(events, [{ op: 'cork' }, { op: 'write', bytes: ping(1) }, { op: 'uncork' }]);
  t.is(splitter.buffered, 3);
  events.length = 0;
  pumpFrames(splitter, input.subarray(20), sink(events), isRaw, () => t.fail());
  t.deepEqual(events, [{ op: 'cork' }, { op: 'write', bytes: data(2) }, { op: 'uncork' }]);
});

test('isRaw is asked once per frame, in order', (t) => {
  const seen: number[] = [];
  pumpFrames(
    new FrameSplitter(),
    Buffer.concat([ping(1), headers, data(2)]),
    sink([]),
    (f) => {
      seen.push(f.type);
      return isRaw(f);
    },
    () => undefined,
  );
  t.deepEqual(seen, [FrameType.PING, FrameType.HEADERS, FrameType.DATA]);
});

test('a handler that throws still uncorks the target, and what came before it was written', (t) => {
  const events: Event[] = [];
  const err = t.throws(() =>
    pumpFrames(new FrameSplitter(), Buffer.concat([ping(1), headers, ping(2)]), sink(events), isRaw, () => {
      throw new Error('bad block');
    }),
  );
  t.is(err?.message, 'bad block');
  t.deepEqual(events, [{ op: 'cork' }, { op: 'write', bytes: ping(1) }, { op: 'uncork' }]);
});

test('setPaused pauses and resumes only on a change', (t) => {
  const calls: string[] = [];
  let paused = false;
  const socket = {
    isPaused: () => paused,
    pause: () => {
      calls.push('pause');
      paused = true;
    },
    resume: () => {
      calls.push('resume');
      paused = false;
    },
  };
  setPaused(socket, false);
  setPaused(socket, true);
  setPaused(socket, true);
  setPaused(socket, false);
  t.deepEqual(calls, ['pause', 'resume']);
});
