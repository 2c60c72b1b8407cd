/**
 * The header-block collector on its own (frames in, blocks out): HEADERS + CONTINUATION assembled in
 * order, padding and priority fields taken off, and every malformed sequence refused as a protocol error.
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import {
  ErrorCode,
  Flag,
  FrameSplitter,
  FrameType,
  Http2ProtocolError,
  encodeFrame,
  encodeHeaderBlock,
  type FrameView,
} from '../../src/cri/transport/frames.js';
import { HeaderBlockCollector } from '../../src/cri/transport/header-block-collector.js';

/** The frame views of `frames` as the splitter reports them. */
function views(...frames: Buffer[]): FrameView[] {
  const out: FrameView[] = [];
  new FrameSplitter().push(Buffer.concat(frames), (_b, f) => out.push({ ...f }));
  return out;
}

function frame(type: number, flags: number, streamId: number, payload: string | Buffer): FrameView {
  return views(encodeFrame(type, flags, streamId, Buffer.from(payload)))[0]!;
}

function throwsH2(
  t: ExecutionContext,
  fn: () => unknown,
  message: RegExp,
  code: number = ErrorCode.PROTOCOL_ERROR,
): void {
  const err = t.throws(fn, { instanceOf: Http2ProtocolError, message });
  t.is(err?.http2Code, code);
}

test('a HEADERS frame with END_HEADERS is a whole block', (t) => {
  const c = new HeaderBlockCollector(1024);
  const block = c.collect(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, 'abc'));
  t.deepEqual(block, {
    streamId: 3,
    flags: Flag.END_HEADERS | Flag.END_STREAM,
    priority: undefined,
    fragment: Buffer.from('abc'),
  });
  t.false(c.pending);
});

test('CONTINUATION frames are appended in order until END_HEADERS', (t) => {
  const c = new HeaderBlockCollector(1024);
  t.is(c.collect(frame(FrameType.HEADERS, 0, 5, 'one-')), 'pending');
  t.true(c.pending);
  t.is(c.collect(frame(FrameType.CONTINUATION, 0, 5, 'two-')), 'pending');
  const block = c.collect(frame(FrameType.CONTINUATION, Flag.END_HEADERS, 5, 'three'));
  t.deepEqual(block, { streamId: 5, flags: 0, priority: undefined, fragment: Buffer.from('one-two-three') });
  t.false(c.pending);
});

test('frames outside a header block are not the collector’s', (t) => {
  const c = new HeaderBlockCollector(1024);
  for (const type of [
    FrameType.DATA,
    FrameType.SETTINGS,
    FrameType.PING,
    FrameType.RST_STREAM,
    FrameType.WINDOW_UPDATE,
  ]) {
    t.is(c.collect(frame(type, 0, 0, '')), undefined);
  }
});

test('padding and priority fields are taken off; the flags of the HEADERS frame are kept', (t) => {
  const c = new HeaderBlockCollector(1024);
  const priority = Buffer.from([0, 0, 0, 1, 16]);
  const payload = Buffer.concat([Buffer.from([3]), priority, Buffer.from('hpack'), Buffer.alloc(3)]);
  const flags = Flag.PADDED | Flag.PRIORITY | Flag.END_HEADERS;
  const block = c.collect(frame(FrameType.HEADERS, flags, 7, payload));
  t.deepEqual(block, { streamId: 7, flags, priority, fragment: Buffer.from('hpack') });
});

test('the block is a copy: reusing the read buffer afterwards does not change it', (t) => {
  const c = new HeaderBlockCollector(1024);
  const first = frame(FrameType.HEADERS, 0, 1, 'aaaa');
  t.is(c.collect(first), 'pending');
  first.payload.fill(0x7a);
  const block = c.collect(frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, 'bb'));
  t.deepEqual((block as { fragment: Buffer }).fragment, Buffer.from('aaaabb'));
});

test('a frame of another kind inside a block is refused (header block interrupted)', (t) => {
  const c = new HeaderBlockCollector(1024);
  c.collect(frame(FrameType.HEADERS, 0, 1, 'x'));
  throwsH2(t, () => c.collect(frame(FrameType.DATA, 0, 1, 'y')), /interrupted/);
});

test('a CONTINUATION on another stream (interleaved blocks) is refused', (t) => {
  const c = new HeaderBlockCollector(1024);
  c.collect(frame(FrameType.HEADERS, 0, 1, 'x'));
  throwsH2(t, () => c.collect(frame(FrameType.CONTINUATION, Flag.END_HEADERS, 3, 'y')), /interrupted/);
});

test('a second HEADERS before the first block ends is refused', (t) => {
  const c = new HeaderBlockCollector(1024);
  c.collect(frame(FrameType.HEADERS, 0, 1, 'x'));
  throwsH2(t, () => c.collect(frame(FrameType.HEADERS, Flag.END_HEADERS, 3, 'y')), /interrupted/);
});

test('CONTINUATION without HEADERS, HEADERS on stream 0 and short PRIORITY fields are refused', (t) => {
  throwsH2(
    t,
    () => new HeaderBlockCollector(1024).collect(frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, 'y')),
    /without HEADERS/,
  );
  throwsH2(
    t,
    () => new HeaderBlockCollector(1024).collect(frame(FrameType.HEADERS, Flag.END_HEADERS, 0, 'y')),
    /stream 0/,
  );
  throwsH2(
    t,
    () =>
      new HeaderBlockCollector(1024).collect(
        frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PRIORITY, 1, 'abcd'),
      ),
    /short PRIORITY/,
  );
  throwsH2(
    t,
    () =>
      new HeaderBlockCollector(1024).collect(
        frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PADDED, 1, Buffer.from([9, 1])),
      ),
    /padding/,
  );
});

test('a block over the bound is refused (ENHANCE_YOUR_CALM) at the frame that passes it, before END_HEADERS', (t) => {
  const c = new HeaderBlockCollector(10);
  t.is(c.collect(frame(FrameType.HEADERS, 0, 1, '12345')), 'pending');
  t.is(
    c.collect(frame(FrameType.CONTINUATION, 0, 1, '67890')),
    'pending',
    'exactly at the bound is accepted',
  );
  throwsH2(
    t,
    () => c.collect(frame(FrameType.CONTINUATION, 0, 1, 'x')),
    /too large/,
    ErrorCode.ENHANCE_YOUR_CALM,
  );
  throwsH2(
    t,
    () => new HeaderBlockCollector(4).collect(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, '12345')),
    /too large/,
    ErrorCode.ENHANCE_YOUR_CALM,
  );
});

test('property: a block framed as HEADERS + CONTINUATION comes back whole, then the next frame is free', (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 40_000 }).map((a) => Buffer.from(a)),
      fc.integer({ min: 1, max: 0x7f_ff_ff_ff }),
      fc.boolean(),
      (bytes, streamId, endStream) => {
        const c = new HeaderBlockCollector(64 * 1024);
        const frames = views(...encodeHeaderBlock(streamId, bytes, endStream ? Flag.END_STREAM : 0));
        const results = frames.map((f) => c.collect(f));
        const last = results.pop();
        t.true(results.every((r) => r === 'pending'));
        t.deepEqual(last, {
          streamId,
          flags: (endStream ? Flag.END_STREAM : 0) | (frames.length === 1 ? Flag.END_HEADERS : 0),
          priority: undefined,
          fragment: bytes,
        });
        t.is(c.collect(frame(FrameType.DATA, 0, streamId, 'x')), undefined);
      },
    ),
    { numRuns: 50 },
  );
});
