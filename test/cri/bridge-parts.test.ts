/**
 * The connection bridge's small pure parts on their own: the client preface reader, the settings that
 * size criguard's own wire state, and the stream table.
 */
import test from 'ava';
import { ClientPreface } from '../../src/cri/transport/client-preface.js';
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  FrameSplitter,
  Http2ProtocolError,
  Setting,
  encodeSettings,
} from '../../src/cri/transport/frames.js';
import { HeaderBlockDecoder, HeaderBlockEncoder } from '../../src/cri/transport/hpack-codec.js';
import { applyPeerSettings } from '../../src/cri/transport/peer-settings.js';
import { StreamTable } from '../../src/cri/transport/stream-table.js';

/** The payload of a SETTINGS frame (no frame header). */
const settings = (values: Array<[number, number]>) => encodeSettings(values).subarray(9);

test('the preface may arrive a byte at a time; what follows it comes back once', (t) => {
  const p = new ClientPreface();
  for (const byte of CLIENT_PREFACE.subarray(0, -1)) t.is(p.push(Buffer.from([byte])), undefined);
  t.false(p.received);
  t.is(p.buffered, CLIENT_PREFACE.length - 1);
  t.deepEqual(p.push(Buffer.from([CLIENT_PREFACE.at(-1)!, 1, 2])), Buffer.from([1, 2]));
  t.true(p.received);
  t.is(p.buffered, 0);
});

test('a wrong preface byte is refused at once, not after 24 bytes', (t) => {
  t.throws(() => new ClientPreface().push(Buffer.from('GET / HTTP/1.1')), {
    instanceOf: Http2ProtocolError,
    message: 'bad preface',
  });
  t.throws(() => new ClientPreface().push(Buffer.from('PRX')), { instanceOf: Http2ProtocolError });
  const exact = new ClientPreface();
  t.deepEqual(exact.push(CLIENT_PREFACE), Buffer.alloc(0));
});

function legs() {
  const peer = { encoder: new HeaderBlockEncoder() };
  const other = { frames: new FrameSplitter(DEFAULT_MAX_FRAME_SIZE), decoder: new HeaderBlockDecoder(8192) };
  return { peer, other };
}

test('SETTINGS_MAX_FRAME_SIZE raises the limit on frames the other peer sends, and never lowers it', (t) => {
  const { peer, other } = legs();
  applyPeerSettings(settings([[Setting.MAX_FRAME_SIZE, 65_536]]), peer, other);
  t.is(other.frames.maxPayload, 65_536);
  applyPeerSettings(settings([[Setting.MAX_FRAME_SIZE, 20_000]]), peer, other);
  t.is(other.frames.maxPayload, 65_536);
});

test('SETTINGS_MAX_FRAME_SIZE out of range is a protocol error; a bad payload length too', (t) => {
  const { peer, other } = legs();
  t.throws(() => applyPeerSettings(settings([[Setting.MAX_FRAME_SIZE, 16_383]]), peer, other), {
    instanceOf: Http2ProtocolError,
    message: /out of range/,
  });
  t.throws(() => applyPeerSettings(settings([[Setting.MAX_FRAME_SIZE, 2 ** 24]]), peer, other), {
    instanceOf: Http2ProtocolError,
  });
  t.throws(() => applyPeerSettings(Buffer.alloc(5), peer, other), { instanceOf: Http2ProtocolError });
  t.is(other.frames.maxPayload, DEFAULT_MAX_FRAME_SIZE);
});

test('SETTINGS_HEADER_TABLE_SIZE sizes the encoder towards the peer and lets the other decoder follow', (t) => {
  const { other } = legs();
  const sized: number[] = [];
  const allowed: number[] = [];
  applyPeerSettings(
    settings([
      [Setting.HEADER_TABLE_SIZE, 0],
      [Setting.ENABLE_PUSH, 0],
    ]),
    { encoder: { setPeerTableSize: (n: number) => sized.push(n) } as unknown as HeaderBlockEncoder },
    {
      frames: other.frames,
      decoder: { allowTableSize: (n: number) => allowed.push(n) } as unknown as HeaderBlockDecoder,
    },
  );
  t.deepEqual(sized, [0]);
  t.deepEqual(allowed, [0]);
});

test('the stream table tracks the last client stream, unary calls, and removes only the current stream', (t) => {
  const table = new StreamTable();
  const abort = new AbortController();
  const a = table.open(3, 'gated', {
    serverStreaming: false,
    clientEnded: false,
    upstreamEnded: false,
    abort,
  });
  table.open(7, 'pass', { serverStreaming: true, clientEnded: false, upstreamEnded: false });
  table.open(5, 'local', { serverStreaming: false, clientEnded: true, upstreamEnded: true });
  t.is(table.lastClientStream, 7);
  t.is(table.size, 3);
  t.is(table.unaryInFlight, 2);
  t.true(table.isCurrent(a));
  const stale = { ...a };
  t.false(table.remove(stale), 'a stale copy does not remove the tracked stream');
  t.false(abort.signal.aborted);
  t.true(table.remove(a));
  t.true(abort.signal.aborted, 'removing a stream aborts its checks');
  t.false(table.isCurrent(a));
  t.false(table.remove(a));
  table.clear();
  t.is(table.size, 0);
  t.is(table.lastClientStream, 7, 'the last stream id survives (GOAWAY names it)');
});
