/**
 * Properties of the transport's pure codecs: the frame splitter finds the same frames however the bytes
 * are cut into reads, and never keeps more than one frame's worth; header blocks survive an HPACK
 * encode/decode round trip on one leg's pair of tables, across many blocks (dynamic table in step).
 */
import test from 'ava';
import fc from 'fast-check';
import {
  FRAME_HEADER_LENGTH,
  FrameSplitter,
  Http2ProtocolError,
  encodeFrame,
  encodeHeaderBlock,
} from '../../src/cri/transport/frames.js';
import {
  HeaderBlockDecoder,
  HeaderBlockEncoder,
  type HeaderField,
} from '../../src/cri/transport/hpack-codec.js';

const frameArb = fc.record({
  type: fc.integer({ min: 0, max: 255 }),
  flags: fc.integer({ min: 0, max: 255 }),
  streamId: fc.integer({ min: 0, max: 0x7f_ff_ff_ff }),
  payload: fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)),
});

/** Cuts `bytes` at the given (sorted, deduplicated) offsets. */
function cut(bytes: Buffer, offsets: number[]): Buffer[] {
  const points = [...new Set(offsets.map((o) => o % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    out.push(bytes.subarray(at, p));
    at = p;
  }
  out.push(bytes.subarray(at));
  return out;
}

test('the frame splitter finds every frame, in order, whatever the read boundaries', (t) => {
  fc.assert(
    fc.property(
      fc.array(frameArb, { maxLength: 12 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      (frames, offsets) => {
        const wire = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.flags, f.streamId, f.payload)));
        const splitter = new FrameSplitter(600);
        const seen: Array<{ type: number; flags: number; streamId: number; payload: Buffer; raw: Buffer }> =
          [];
        for (const chunk of cut(wire, offsets)) {
          splitter.push(chunk, (buffer, f) =>
            seen.push({
              type: f.type,
              flags: f.flags,
              streamId: f.streamId,
              payload: Buffer.from(f.payload),
              raw: Buffer.from(buffer.subarray(f.start, f.end)),
            }),
          );
          if (splitter.buffered > 600 + FRAME_HEADER_LENGTH) return false;
        }
        return (
          splitter.buffered === 0 &&
          seen.length === frames.length &&
          seen.every(
            (s, i) =>
              s.type === frames[i]!.type &&
              s.flags === frames[i]!.flags &&
              s.streamId === frames[i]!.streamId &&
              s.payload.equals(frames[i]!.payload) &&
              s.raw.equals(encodeFrame(s.type, s.flags, s.streamId, s.payload)),
          )
        );
      },
    ),
  );
  t.pass();
});

test('a frame header above the limit is a FRAME_SIZE_ERROR as soon as its 9 bytes are in', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 0xff_ff_ff - 16_384 }), fc.nat({ max: 8 }), (excess, extra) => {
      const header = encodeFrame(0, 0, 1, Buffer.alloc(0));
      header.writeUIntBE(16_384 + excess, 0, 3);
      const splitter = new FrameSplitter(16_384);
      splitter.push(header.subarray(0, 8 - Math.min(extra, 8)), () => undefined);
      try {
        splitter.push(header.subarray(8 - Math.min(extra, 8)), () => undefined);
        return false;
      } catch (err) {
        return err instanceof Http2ProtocolError && err.http2Code === 0x6;
      }
    }),
  );
  t.pass();
});

const latin1 = (min: number, max: number) =>
  fc
    .array(fc.integer({ min: 0, max: 255 }), { minLength: min, maxLength: max })
    .map((a) => String.fromCharCode(...a));
const fieldArb: fc.Arbitrary<HeaderField> = fc.record({
  name: fc.oneof(
    fc.constantFrom(
      ':path',
      ':status',
      'content-type',
      'grpc-status',
      'grpc-message',
      'authorization',
      'x-b-bin',
    ),
    latin1(1, 40),
  ),
  value: fc.oneof(
    fc.constantFrom('', '0', 'application/grpc', '/runtime.v1.ImageService/PullImage'),
    latin1(0, 300),
  ),
  neverIndex: fc.boolean(),
});

test('header blocks round-trip through HPACK, block after block, with both tables in step', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.array(fieldArb, { maxLength: 12 }), { minLength: 1, maxLength: 10 }),
      fc.option(fc.integer({ min: 0, max: 8192 }), { nil: undefined }),
      (blocks, peerTableSize) => {
        const encoder = new HeaderBlockEncoder();
        const decoder = new HeaderBlockDecoder(1024 * 1024);
        if (peerTableSize !== undefined) encoder.setPeerTableSize(peerTableSize);
        for (const fields of blocks) {
          const block = encoder.encode(fields);
          // Framed and reassembled as the bridge does for large blocks.
          const frames = encodeHeaderBlock(1, block, 0);
          const reassembled = Buffer.concat(frames.map((f) => f.subarray(FRAME_HEADER_LENGTH)));
          const decoded = decoder.decode(reassembled);
          if (decoded.length !== fields.length) return false;
          for (let i = 0; i < fields.length; i++) {
            const a = decoded[i]!;
            const b = fields[i]!;
            if (a.name !== b.name || a.value !== b.value || a.neverIndex !== b.neverIndex) return false;
          }
        }
        return true;
      },
    ),
  );
  t.pass();
});

test('the HPACK decoder turns any byte string into fields or a COMPRESSION_ERROR, nothing else', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try {
        new HeaderBlockDecoder(64 * 1024).decode(Buffer.from(bytes));
        return true;
      } catch (err) {
        return err instanceof Http2ProtocolError && (err.http2Code === 0x9 || err.http2Code === 0xb);
      }
    }),
  );
  t.pass();
});
