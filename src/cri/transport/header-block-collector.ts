import { ErrorCode, Flag, FrameType, Http2ProtocolError, unpad, type FrameView } from './frames.js';

/** A complete header block as one peer sent it: HEADERS plus any CONTINUATION frames, still encoded. */
export interface HeaderBlock {
  readonly streamId: number;
  /** The flags of the HEADERS frame (END_STREAM, PRIORITY, …). */
  readonly flags: number;
  /** The 5 PRIORITY bytes of the HEADERS frame, when its PRIORITY flag is set. */
  readonly priority: Buffer | undefined;
  /** The HPACK-encoded block, padding and priority fields removed. */
  readonly fragment: Buffer;
}

interface Pending {
  readonly streamId: number;
  readonly flags: number;
  readonly priority: Buffer | undefined;
  readonly parts: Buffer[];
  size: number;
}

/**
 * Assembles the header blocks one peer sends (RFC 9113 §4.3, §6.2, §6.10). Pure: frames in, blocks out.
 *
 * Contract: `collect(frame)` returns `undefined` for a frame that is not part of a header block,
 * `'pending'` for one that starts or continues a block still open, and the whole block on END_HEADERS.
 * While a block is open only CONTINUATION frames of its stream may arrive. Throws Http2ProtocolError
 * for an interrupted block, CONTINUATION without HEADERS, HEADERS on stream 0, short PRIORITY fields or
 * bad padding, and (ENHANCE_YOUR_CALM) as soon as the block's bytes pass `maxSize`. Payload bytes are
 * copied: the frames may view a read buffer that is reused.
 */
export class HeaderBlockCollector {
  private open: Pending | undefined;

  constructor(private readonly maxSize: number) {}

  /** Whether a block is open (the next frame must be its CONTINUATION). */
  get pending(): boolean {
    return this.open !== undefined;
  }

  collect(frame: FrameView): HeaderBlock | 'pending' | undefined {
    let current = this.open;
    if (current) {
      if (frame.type !== FrameType.CONTINUATION || frame.streamId !== current.streamId) {
        throw new Http2ProtocolError('header block interrupted');
      }
      current.parts.push(Buffer.from(frame.payload));
      current.size += frame.payload.length;
    } else if (frame.type === FrameType.HEADERS) {
      if (frame.streamId === 0) throw new Http2ProtocolError('HEADERS on stream 0');
      const { content } = unpad(frame.flags, frame.payload);
      const hasPriority = (frame.flags & Flag.PRIORITY) !== 0;
      if (hasPriority && content.length < 5) throw new Http2ProtocolError('short PRIORITY fields');
      current = {
        streamId: frame.streamId,
        flags: frame.flags,
        priority: hasPriority ? Buffer.from(content.subarray(0, 5)) : undefined,
        parts: [Buffer.from(hasPriority ? content.subarray(5) : content)],
        size: content.length,
      };
      this.open = current;
    } else if (frame.type === FrameType.CONTINUATION) {
      throw new Http2ProtocolError('CONTINUATION without HEADERS');
    } else {
      return undefined;
    }
    if (current.size > this.maxSize) {
      throw new Http2ProtocolError('header block too large', ErrorCode.ENHANCE_YOUR_CALM);
    }
    if (!(frame.flags & Flag.END_HEADERS)) return 'pending';
    this.open = undefined;
    const { streamId, flags, priority, parts } = current;
    return { streamId, flags, priority, fragment: Buffer.concat(parts) };
  }
}
