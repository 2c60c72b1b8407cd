import type { CallRelay } from './call-relay.js';
import type { HeldResponses } from './held-response.js';
import { Flag, FrameType, Http2ProtocolError, encodeWindowUpdate, type FrameView } from './frames.js';
import type { HeaderBlock } from './header-block-collector.js';
import type { Leg } from './leg.js';
import { applyPeerSettings } from './peer-settings.js';
import type { StreamState, StreamTable } from './stream-table.js';

/** What upstream frame handling may ask of the connection. */
export interface UpstreamFramesPort {
  /** Stops tracking `stream` (upstream reset it). */
  forget(stream: StreamState): void;
}

/**
 * What criguard does with each frame upstream sends.
 *
 * Contract: as for ClientFrames, `isRaw(frame)` is asked first, once per frame; true means "forward these
 * bytes to the client as they arrived". Every other frame goes to `onFrame`: header blocks are assembled,
 * decoded and re-encoded for the client (or held, for a response the gate checks); DATA of a held response
 * goes to `HeldResponses`; DATA for calls criguard answered itself is credited back to upstream. PUSH_PROMISE is
 * a protocol error.
 */
export class UpstreamFrames {
  constructor(
    private readonly client: Leg,
    private readonly upstream: Leg,
    private readonly streams: StreamTable,
    private readonly relay: CallRelay,
    private readonly held: HeldResponses,
    private readonly port: UpstreamFramesPort,
  ) {}

  isRaw(frame: FrameView): boolean {
    if (this.upstream.blocks.pending) return false;
    switch (frame.type) {
      case FrameType.DATA: {
        const stream = this.streams.get(frame.streamId);
        if (!stream) return true;
        if (stream.mode !== 'pass' || stream.response) return false;
        if (frame.flags & Flag.END_STREAM) this.relay.endFromUpstream(stream);
        return true;
      }
      case FrameType.HEADERS:
      case FrameType.CONTINUATION:
      case FrameType.PUSH_PROMISE:
        return false;
      case FrameType.SETTINGS:
        if (!(frame.flags & Flag.ACK)) applyPeerSettings(frame.payload, this.upstream, this.client);
        return true;
      case FrameType.RST_STREAM:
      case FrameType.WINDOW_UPDATE: {
        const stream = this.streams.get(frame.streamId);
        if (!stream) return true;
        if (stream.mode === 'local') return false;
        if (frame.type === FrameType.RST_STREAM) return false;
        return true;
      }
      default:
        return true;
    }
  }

  onFrame(frame: FrameView): void {
    const block = this.upstream.blocks.collect(frame);
    if (block !== undefined) {
      if (block !== 'pending') this.onHeaders(block);
      return;
    }
    const stream = this.streams.get(frame.streamId);
    switch (frame.type) {
      case FrameType.DATA: {
        if (!stream || stream.mode === 'local') {
          if (frame.payload.length > 0) this.upstream.write(encodeWindowUpdate(0, frame.payload.length));
          return;
        }
        if (!stream.response) {
          // An answer to a call still being decided (an error, e.g. deadline exceeded): pass it on.
          this.client.forward(frame);
          if (frame.flags & Flag.END_STREAM) this.relay.endFromUpstream(stream);
          return;
        }
        this.held.onData(stream, frame);
        return;
      }
      case FrameType.RST_STREAM:
        if (!stream || stream.mode === 'local') return;
        if (stream.response?.flowBytes) this.upstream.write(encodeWindowUpdate(0, stream.response.flowBytes));
        this.client.forward(frame);
        this.port.forget(stream);
        return;
      case FrameType.WINDOW_UPDATE:
        return; // for a call criguard answered itself
      case FrameType.PUSH_PROMISE:
        throw new Http2ProtocolError('PUSH_PROMISE from upstream');
      default:
        this.client.forward(frame);
    }
  }

  private onHeaders(block: HeaderBlock): void {
    const fields = this.upstream.decoder.decode(block.fragment);
    const stream = this.streams.get(block.streamId);
    if (stream?.mode === 'local') return;
    if (stream?.response) {
      this.held.onHeaders(stream, fields, block.flags);
      return;
    }
    this.client.sendHeaders(block.streamId, block.flags, block.priority, fields);
    if (stream && block.flags & Flag.END_STREAM) this.relay.endFromUpstream(stream);
  }
}
