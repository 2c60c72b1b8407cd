import type { Rejection } from './contract.js';
import {
  ErrorCode,
  Flag,
  FrameType,
  SETTINGS_ACK,
  encodeFrame,
  encodeGoaway,
  encodeSettings,
  type FrameView,
} from './frames.js';
import { GrpcCode } from './grpc-wire.js';

/**
 * What the degraded responder may do to a connection. The connection keeps the sockets and the stream
 * table; streams are named by id, and an operation on an id it does not track does nothing.
 */
export interface DegradedWriter {
  /** Writes to the client; does nothing once the connection is closed. */
  writeClient(bytes: Buffer): void;
  /** Gives the client back connection-level flow-control window for bytes nobody will read. */
  creditClient(bytes: number): void;
  /** Runs a client header block through the client leg's HPACK decoder (keeps its table in step). */
  decodeClientHeaders(block: Buffer): void;
  /** Whether the connection tracks stream `id`. */
  hasStream(id: number): boolean;
  /** Tracks a new client stream that criguard answers itself (it counts as the last client stream seen). */
  openLocalStream(id: number, clientEnded: boolean): void;
  /** Answers stream `id` with a trailers-only gRPC status. */
  answerLocally(id: number, rejection: Rejection): void;
  /** The client ended its side of stream `id`. */
  endFromClient(id: number): void;
  /** Stops tracking stream `id` (the client reset it). */
  forget(id: number): void;
  /** Highest client stream id seen (for GOAWAY). */
  lastClientStream(): number;
  /** Whether the connection is closed. */
  isClosed(): boolean;
  /** Closes the connection after what was written. */
  closeGracefully(): void;
}

export interface DegradedOptions {
  /** Names the upstream in the UNAVAILABLE answer. */
  readonly upstreamName: string;
  readonly logger: { warn(fields: Record<string, unknown>, message: string): void };
  /** Told when the connection enters degraded mode. */
  readonly onUpstreamUnavailable?: () => void;
}

/**
 * Answers a client connection whose upstream could not be connected (containerd unreachable).
 *
 * Contract: once `enter` was called, the connection passes it every client frame (header blocks
 * complete, through `onHeaders`); it answers SETTINGS with ACK and echoes PINGs, credits DATA back, answers
 * every new call UNAVAILABLE, and after the first local answer sends GOAWAY (NO_ERROR) once and closes the
 * connection, so the client reconnects and its next connection tries the upstream again.
 */
export class DegradedResponder {
  private entered = false;
  private goawayScheduled = false;

  constructor(
    private readonly writer: DegradedWriter,
    private readonly options: DegradedOptions,
  ) {}

  /** Whether the connection is in degraded mode. */
  get active(): boolean {
    return this.entered;
  }

  /**
   * Enters degraded mode: reports it, and sends criguard's own SETTINGS if the client sent its preface
   * (upstream never will). The connection then answers the calls it tracks with `unavailable()`.
   */
  enter(err: NodeJS.ErrnoException, prefaceReceived: boolean): void {
    this.entered = true;
    this.options.onUpstreamUnavailable?.();
    this.options.logger.warn({ err: err.code ?? err.message }, 'upstream unreachable; answering UNAVAILABLE');
    if (prefaceReceived) this.writer.writeClient(encodeSettings());
  }

  /** The answer every call gets while degraded. */
  unavailable(): Rejection {
    return { code: GrpcCode.UNAVAILABLE, message: `criguard: ${this.options.upstreamName} is not reachable` };
  }

  /** A client frame that is not part of a header block. */
  onFrame(frame: FrameView): void {
    switch (frame.type) {
      case FrameType.SETTINGS:
        if (!(frame.flags & Flag.ACK)) this.writer.writeClient(SETTINGS_ACK);
        return;
      case FrameType.PING:
        if (!(frame.flags & Flag.ACK))
          this.writer.writeClient(encodeFrame(FrameType.PING, Flag.ACK, 0, frame.payload));
        return;
      case FrameType.DATA:
        this.writer.creditClient(frame.payload.length);
        if (frame.flags & Flag.END_STREAM) this.writer.endFromClient(frame.streamId);
        return;
      case FrameType.RST_STREAM:
        this.writer.forget(frame.streamId);
        return;
      default:
        return;
    }
  }

  /** A complete client header block (`flags` of its HEADERS frame). */
  onHeaders(streamId: number, flags: number, block: Buffer): void {
    this.writer.decodeClientHeaders(block);
    if (!this.writer.hasStream(streamId)) {
      this.writer.openLocalStream(streamId, (flags & Flag.END_STREAM) !== 0);
      this.writer.answerLocally(streamId, this.unavailable());
    } else if (flags & Flag.END_STREAM) {
      this.writer.endFromClient(streamId);
    }
  }

  /** The connection answered a call itself; while degraded, the first such answer schedules GOAWAY. */
  afterLocalAnswer(): void {
    if (!this.entered || this.goawayScheduled) return;
    this.goawayScheduled = true;
    // Let the client finish this connection and reconnect: the next connection retries containerd.
    setTimeout(() => {
      if (this.writer.isClosed()) return;
      this.writer.writeClient(encodeGoaway(this.writer.lastClientStream(), ErrorCode.NO_ERROR));
      setTimeout(() => this.writer.closeGracefully(), 100).unref();
    }, 10).unref();
  }
}
