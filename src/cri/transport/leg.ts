import type { Socket } from 'node:net';
import {
  DEFAULT_MAX_FRAME_SIZE,
  FrameSplitter,
  FrameType,
  encodeFrame,
  encodeHeaderBlock,
  type FrameView,
} from './frames.js';
import { HeaderBlockCollector } from './header-block-collector.js';
import { HeaderBlockDecoder, HeaderBlockEncoder, type HeaderField } from './hpack-codec.js';

/**
 * One side of a bridged connection (the client's or upstream's) and its wire state: the frames read
 * from it, the header blocks it sends (assembled, then decoded with its own HPACK table), and the
 * encoder for header blocks sent to it. Each leg keeps its own HPACK state, so criguard can answer or
 * drop a stream without desynchronising either peer.
 */
export class Leg {
  /**
   * Frames read from this peer. It may send frames up to the SETTINGS_MAX_FRAME_SIZE the other peer
   * advertised (16 KiB until it says otherwise); a larger one is a connection error before its payload
   * is buffered.
   */
  readonly frames = new FrameSplitter(DEFAULT_MAX_FRAME_SIZE);
  /** Header blocks this peer sends, assembled from HEADERS and CONTINUATION. */
  readonly blocks: HeaderBlockCollector;
  /** Decodes this peer's header blocks. */
  readonly decoder: HeaderBlockDecoder;
  /** Encodes header blocks sent to this peer. */
  readonly encoder = new HeaderBlockEncoder();

  constructor(
    readonly socket: Socket,
    maxHeaderListSize: number,
  ) {
    this.blocks = new HeaderBlockCollector(maxHeaderListSize);
    this.decoder = new HeaderBlockDecoder(maxHeaderListSize);
  }

  /** Sends `fields` to this peer as a header block on `streamId` (END_STREAM and PRIORITY kept from `flags`). */
  sendHeaders(streamId: number, flags: number, priority: Buffer | undefined, fields: HeaderField[]): void {
    for (const f of encodeHeaderBlock(streamId, this.encoder.encode(fields), flags, priority))
      this.socket.write(f);
  }

  /** Sends one DATA frame to this peer. */
  writeData(streamId: number, payload: Buffer, flags: number): void {
    this.socket.write(encodeFrame(FrameType.DATA, flags, streamId, payload));
  }

  /** Sends to this peer a frame the other peer sent (rebuilt from its view: the read buffer moves on). */
  forward(frame: FrameView): void {
    this.socket.write(encodeFrame(frame.type, frame.flags, frame.streamId, frame.payload));
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }
}
