import type { CallRelay } from './call-relay.js';
import type { Route } from './contract.js';
import type { GatedRequests } from './gated-request.js';
import { Flag, FrameType, Http2ProtocolError, type FrameView } from './frames.js';
import { GrpcCode, headerValue } from './grpc-wire.js';
import type { HeaderBlock } from './header-block-collector.js';
import type { Leg } from './leg.js';
import { applyPeerSettings } from './peer-settings.js';
import type { StreamState, StreamTable } from './stream-table.js';

/** What client frame handling may ask of the connection. */
export interface ClientFramesPort {
  /** Stops tracking `stream` (the client reset it). */
  forget(stream: StreamState): void;
  /** A new call was opened (the connection is in use). */
  callOpened(): void;
}

export interface ClientFramesOptions {
  readonly route: (path: string) => Route;
  readonly limits: { readonly maxStreams: number };
}

/**
 * What criguard does with each frame the client sends while upstream is connected.
 *
 * Contract: `isRaw(frame)` is asked first, once per frame, on the hot path; true means "forward these
 * bytes upstream as they arrived" (it may note what the frame means, e.g. END_STREAM, or SETTINGS that
 * size criguard's own state). Every other frame goes to `onFrame`: header blocks are assembled, decoded
 * and routed (a new call passes, is gated, or is refused); DATA of gated calls goes to `GatedRequests`; frames
 * for calls criguard answered itself are credited or dropped. PUSH_PROMISE is a protocol error.
 */
export class ClientFrames {
  constructor(
    private readonly client: Leg,
    private readonly upstream: Leg,
    private readonly streams: StreamTable,
    private readonly relay: CallRelay,
    private readonly gated: GatedRequests,
    private readonly port: ClientFramesPort,
    private readonly options: ClientFramesOptions,
  ) {}

  isRaw(frame: FrameView): boolean {
    if (this.client.blocks.pending) return false;
    switch (frame.type) {
      case FrameType.DATA: {
        const stream = this.streams.get(frame.streamId);
        if (!stream) return true;
        if (stream.mode !== 'pass') return false;
        if (frame.flags & Flag.END_STREAM) this.relay.endFromClient(stream);
        return true;
      }
      case FrameType.HEADERS:
      case FrameType.CONTINUATION:
      case FrameType.PUSH_PROMISE:
        return false;
      case FrameType.SETTINGS:
        if (!(frame.flags & Flag.ACK)) applyPeerSettings(frame.payload, this.client, this.upstream);
        return true;
      case FrameType.RST_STREAM:
      case FrameType.WINDOW_UPDATE: {
        const stream = this.streams.get(frame.streamId);
        return !stream || (stream.mode === 'pass' && frame.type !== FrameType.RST_STREAM);
      }
      default:
        return true;
    }
  }

  onFrame(frame: FrameView): void {
    const block = this.client.blocks.collect(frame);
    if (block !== undefined) {
      if (block !== 'pending') this.onHeaders(block);
      return;
    }
    const stream = this.streams.get(frame.streamId);
    switch (frame.type) {
      case FrameType.DATA:
        if (stream?.mode === 'gated') this.gated.onData(stream, frame);
        else this.relay.creditClient(0, frame.payload.length); // a call criguard answered itself
        if (stream && frame.flags & Flag.END_STREAM) this.relay.endFromClient(stream);
        return;
      case FrameType.RST_STREAM:
        if (stream && stream.mode !== 'local') this.upstream.forward(frame);
        if (stream) this.port.forget(stream);
        return;
      case FrameType.WINDOW_UPDATE:
        return; // for a call criguard answered itself: upstream does not know the stream
      case FrameType.PUSH_PROMISE:
        throw new Http2ProtocolError('PUSH_PROMISE from a client');
      default:
        this.upstream.forward(frame);
    }
  }

  private onHeaders(block: HeaderBlock): void {
    const fields = this.client.decoder.decode(block.fragment);
    const endStream = (block.flags & Flag.END_STREAM) !== 0;
    const known = this.streams.get(block.streamId);
    if (known) {
      if (known.mode !== 'local')
        this.upstream.sendHeaders(block.streamId, block.flags, block.priority, fields);
      if (endStream) this.relay.endFromClient(known);
      return;
    }
    const path = headerValue(fields, ':path') ?? '';
    let route = this.options.route(path);
    if (this.streams.size >= this.options.limits.maxStreams) {
      route = {
        kind: 'reject',
        code: GrpcCode.RESOURCE_EXHAUSTED,
        message: 'criguard: too many concurrent calls',
      };
    }
    const stream = this.streams.open(
      block.streamId,
      route.kind === 'reject' ? 'local' : route.kind === 'gate' ? 'gated' : 'pass',
      {
        serverStreaming: route.kind === 'pass' && route.serverStreaming,
        clientEnded: endStream,
        upstreamEnded: false,
        abort: route.kind === 'gate' ? new AbortController() : undefined,
      },
    );
    this.port.callOpened();
    if (route.kind === 'reject') this.relay.answerLocally(stream, route);
    else if (route.kind === 'gate') this.gated.open(stream, block, fields, path, route.gate);
    else this.upstream.sendHeaders(block.streamId, block.flags, block.priority, fields);
  }
}
