import { CriguardError } from '../../errors/criguard-error.js';

/**
 * HTTP/2 framing (RFC 9113 §4, §6): constants, an incremental frame splitter and builders for the few
 * frames criguard writes itself. Frames criguard does not need to change are never rebuilt: the splitter
 * reports their byte ranges so they can be forwarded as they arrived.
 */

export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER_LENGTH = 9;
/** The smallest SETTINGS_MAX_FRAME_SIZE a peer may announce: frames criguard builds never exceed it. */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
/** The largest frame payload HTTP/2 allows (2^24 - 1). */
export const MAX_FRAME_PAYLOAD = 0xff_ff_ff;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
} as const;

/** A connection-level protocol violation: the bridge tears both connections down. Code CG_ERR_H2_PROTOCOL. */
export class Http2ProtocolError extends CriguardError<'CG_ERR_H2_PROTOCOL'> {
  constructor(
    message: string,
    readonly http2Code: number = ErrorCode.PROTOCOL_ERROR,
  ) {
    super('CG_ERR_H2_PROTOCOL', message);
    this.name = 'Http2ProtocolError';
  }
}

/** One frame as seen in the input buffer: `start`/`end` delimit the whole frame, `payload` is a view. */
export interface FrameView {
  type: number;
  flags: number;
  streamId: number;
  /** Offset of the frame's first byte (its 9-byte header) in the buffer passed to the callback. */
  start: number;
  /** Offset just past the frame. */
  end: number;
  payload: Buffer;
}

/**
 * Splits a byte stream into frames. `push(chunk, onFrame)` calls `onFrame(buffer, frame)` for every complete
 * frame, where all frames of one call share `buffer` (so consecutive frames can be forwarded as one slice).
 * Incomplete trailing bytes are kept for the next chunk. Throws Http2ProtocolError (FRAME_SIZE_ERROR) as
 * soon as a frame header announces a payload above `maxPayload`, so at most `maxPayload` + 9 bytes of an
 * incomplete frame are ever kept.
 */
export class FrameSplitter {
  private pending: Buffer | undefined;

  /** The largest payload accepted: the SETTINGS_MAX_FRAME_SIZE the receiving side advertised. */
  maxPayload: number;

  constructor(maxPayload: number = MAX_FRAME_PAYLOAD) {
    this.maxPayload = maxPayload;
  }

  push(
    chunk: Buffer,
    onFrame: (buffer: Buffer, frame: FrameView) => void,
  ): { buffer: Buffer; consumed: number } {
    const buffer = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    let offset = 0;
    while (buffer.length - offset >= FRAME_HEADER_LENGTH) {
      const length = buffer.readUIntBE(offset, 3);
      if (length > this.maxPayload) {
        throw new Http2ProtocolError(
          `frame of ${length} bytes exceeds the advertised maximum of ${this.maxPayload}`,
          ErrorCode.FRAME_SIZE_ERROR,
        );
      }
      const end = offset + FRAME_HEADER_LENGTH + length;
      if (end > buffer.length) break;
      onFrame(buffer, {
        type: buffer[offset + 3]!,
        flags: buffer[offset + 4]!,
        streamId: buffer.readUInt32BE(offset + 5) & 0x7f_ff_ff_ff,
        start: offset,
        end,
        payload: buffer.subarray(offset + FRAME_HEADER_LENGTH, end),
      });
      offset = end;
    }
    if (offset < buffer.length) this.pending = buffer.subarray(offset);
    return { buffer, consumed: offset };
  }

  /** Bytes held back waiting for the rest of a frame. */
  get buffered(): number {
    return this.pending?.length ?? 0;
  }
}

/** Builds a frame header + payload. */
export function encodeFrame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + payload.length);
  frame.writeUIntBE(payload.length, 0, 3);
  frame[3] = type;
  frame[4] = flags;
  frame.writeUInt32BE(streamId & 0x7f_ff_ff_ff, 5);
  payload.copy(frame, FRAME_HEADER_LENGTH);
  return frame;
}

/**
 * Frames a complete header block as HEADERS followed by CONTINUATION frames, none over 16 KiB.
 * `flags` may carry END_STREAM and PRIORITY (with its 5 bytes in `priority`); PADDED is never set.
 */
export function encodeHeaderBlock(
  streamId: number,
  block: Buffer,
  flags: number,
  priority?: Buffer,
): Buffer[] {
  const keep = flags & (Flag.END_STREAM | Flag.PRIORITY);
  const prefix = keep & Flag.PRIORITY && priority ? priority : Buffer.alloc(0);
  const firstRoom = DEFAULT_MAX_FRAME_SIZE - prefix.length;
  if (block.length <= firstRoom) {
    return [
      encodeFrame(FrameType.HEADERS, keep | Flag.END_HEADERS, streamId, Buffer.concat([prefix, block])),
    ];
  }
  const frames = [
    encodeFrame(FrameType.HEADERS, keep, streamId, Buffer.concat([prefix, block.subarray(0, firstRoom)])),
  ];
  for (let at = firstRoom; at < block.length; at += DEFAULT_MAX_FRAME_SIZE) {
    const last = at + DEFAULT_MAX_FRAME_SIZE >= block.length;
    frames.push(
      encodeFrame(
        FrameType.CONTINUATION,
        last ? Flag.END_HEADERS : 0,
        streamId,
        block.subarray(at, at + DEFAULT_MAX_FRAME_SIZE),
      ),
    );
  }
  return frames;
}

export function encodeRstStream(streamId: number, code: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(code, 0);
  return encodeFrame(FrameType.RST_STREAM, 0, streamId, payload);
}

/** A WINDOW_UPDATE for `increment` bytes (1 to 2^31-1); stream 0 means the connection. */
export function encodeWindowUpdate(streamId: number, increment: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(increment & 0x7f_ff_ff_ff, 0);
  return encodeFrame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

export function encodeGoaway(lastStreamId: number, code: number, debug = ''): Buffer {
  const data = Buffer.from(debug, 'utf8');
  const payload = Buffer.allocUnsafe(8 + data.length);
  payload.writeUInt32BE(lastStreamId & 0x7f_ff_ff_ff, 0);
  payload.writeUInt32BE(code, 4);
  data.copy(payload, 8);
  return encodeFrame(FrameType.GOAWAY, 0, 0, payload);
}

export function encodeSettings(values: ReadonlyArray<readonly [number, number]> = []): Buffer {
  const payload = Buffer.allocUnsafe(values.length * 6);
  values.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return encodeFrame(FrameType.SETTINGS, 0, 0, payload);
}

export const SETTINGS_ACK = encodeFrame(FrameType.SETTINGS, Flag.ACK, 0, Buffer.alloc(0));

/** Parses a SETTINGS payload into (id, value) pairs; throws Http2ProtocolError on a bad length. */
export function decodeSettings(payload: Buffer): Array<[number, number]> {
  if (payload.length % 6 !== 0) {
    throw new Http2ProtocolError('SETTINGS payload is not a multiple of 6', ErrorCode.FRAME_SIZE_ERROR);
  }
  const out: Array<[number, number]> = [];
  for (let at = 0; at < payload.length; at += 6)
    out.push([payload.readUInt16BE(at), payload.readUInt32BE(at + 2)]);
  return out;
}

/**
 * Removes padding from a DATA or HEADERS payload. Returns the content and how many bytes padding took
 * (including the pad-length byte), which still count against flow control for DATA.
 */
export function unpad(flags: number, payload: Buffer): { content: Buffer; padding: number } {
  if (!(flags & Flag.PADDED)) return { content: payload, padding: 0 };
  if (payload.length < 1) throw new Http2ProtocolError('padded frame without a pad length');
  const padLength = payload[0]!;
  if (padLength >= payload.length) throw new Http2ProtocolError('padding exceeds the frame');
  return { content: payload.subarray(1, payload.length - padLength), padding: padLength + 1 };
}
