import type { GateDecision, Rejection, RequestGate } from './contract.js';
import {
  DEFAULT_MAX_FRAME_SIZE,
  ErrorCode,
  Flag,
  encodeHeaderBlock,
  encodeRstStream,
  encodeWindowUpdate,
  unpad,
  type FrameView,
} from './frames.js';
import { GrpcCode, MESSAGE_PREFIX_LENGTH, headerValue, readGrpcMessage, trailersOnly } from './grpc-wire.js';
import { heldRequest, heldResponse, type HeldAccount } from './held-calls.js';
import type { HeaderBlock } from './header-block-collector.js';
import type { HeaderField } from './hpack-codec.js';
import type { Leg } from './leg.js';
import type { StreamState, StreamTable } from './stream-table.js';

/** What the relay may ask of the connection that owns it. */
export interface CallPort {
  /** Writes to the client; does nothing once the connection is closed. */
  writeClient(bytes: Buffer): void;
  /** Gives the client back flow-control window (the connection's, and `streamId`'s unless 0). */
  creditClient(streamId: number, bytes: number): void;
  /** The client ended its side of `stream`. */
  endFromClient(stream: StreamState): void;
  /** Upstream ended its side of `stream`. */
  endFromUpstream(stream: StreamState): void;
  /** Stops tracking `stream`. */
  forget(stream: StreamState): void;
  /** Runs the continuation of asynchronous work as the connection runs a read (errors close it). */
  guard(fn: () => void): void;
  isClosed(): boolean;
  /** criguard answered a call itself. */
  answeredLocally(): void;
}

export interface RelayOptions {
  readonly limits: { readonly maxMessageSize: number };
  readonly logger: { warn(fields: Record<string, unknown>, message: string): void };
}

/**
 * The per-call relay: what criguard holds of a call, and the answers it gives itself.
 *
 * Contract:
 * - A gated request: HEADERS go upstream at once (without END_STREAM); the request message is forwarded
 *   except its last byte, so upstream cannot act on it before the gate decides. Allowed → the rest and
 *   END_STREAM follow. Refused (or a gate that fails, or a bad message) → `reject`.
 * - A held response (the gate asked to check it): header blocks and DATA are kept until upstream ends the
 *   stream; a successful one is checked, then passed on as received or refused; an unsuccessful one is
 *   passed on unchecked.
 * - `reject` resets the call upstream, gives back the flow-control window of bytes nobody will read
 *   (to the client and to upstream) and answers the client with a gRPC trailers-only status.
 * - Every byte held counts against the connection's `HeldAccount`; a call that would pass its bounds is
 *   refused RESOURCE_EXHAUSTED. Asynchronous results for a stream no longer current are dropped.
 */
export class CallRelay {
  constructor(
    private readonly client: Leg,
    private readonly upstream: Leg,
    private readonly streams: StreamTable,
    private readonly held: HeldAccount,
    private readonly port: CallPort,
    private readonly options: RelayOptions,
  ) {}

  // ---- the gated request

  /** A new gated call's header block (`fields` decoded): starts it upstream and holds its request. */
  openGated(
    stream: StreamState,
    block: HeaderBlock,
    fields: HeaderField[],
    path: string,
    gate: RequestGate,
  ): void {
    stream.request = heldRequest(fields, path, gate);
    // The upstream sees the call start now; END_STREAM waits with the held bytes.
    this.upstream.sendHeaders(block.streamId, block.flags & ~Flag.END_STREAM, block.priority, fields);
    if (block.flags & Flag.END_STREAM) this.onGatedEnd(stream);
  }

  /** Client DATA for a call whose gate has not decided. */
  onGatedData(stream: StreamState, frame: FrameView): void {
    const held = stream.request!;
    const { content, padding } = unpad(frame.flags, frame.payload);
    if (padding) this.port.creditClient(stream.id, padding);
    const bytes = Buffer.from(content);
    if (!this.hold(stream, bytes.length)) {
      this.port.creditClient(0, bytes.length); // refused: upstream never gets these bytes
      return;
    }
    held.copy.push(bytes);
    held.queue.push(bytes);
    held.received += bytes.length;
    if (held.expected === undefined && held.received >= MESSAGE_PREFIX_LENGTH) {
      const length = Buffer.concat(held.copy).readUInt32BE(1);
      if (length > this.options.limits.maxMessageSize) {
        this.reject(stream, {
          code: GrpcCode.RESOURCE_EXHAUSTED,
          message: 'criguard: request message too large',
        });
        return;
      }
      held.expected = MESSAGE_PREFIX_LENGTH + length;
    }
    this.forwardAllButLastByte(stream);
    if (frame.flags & Flag.END_STREAM) held.endStream = true;
    if (held.expected !== undefined && held.received >= held.expected) this.decide(stream);
    else if (held.endStream) this.onGatedEnd(stream);
  }

  /** Keeps the request's last byte (and anything after it) back until the decision. */
  private forwardAllButLastByte(stream: StreamState): void {
    const held = stream.request!;
    if (held.expected === undefined || held.deciding) return;
    const limit = Math.min(held.received, held.expected - 1);
    const n = limit - held.forwarded;
    if (n <= 0) return;
    this.upstream.writeData(stream.id, held.queue.take(n), 0);
    held.forwarded += n;
  }

  private onGatedEnd(stream: StreamState): void {
    const held = stream.request!;
    held.endStream = true;
    if (held.expected === undefined || held.received < held.expected) {
      this.reject(stream, { code: GrpcCode.INTERNAL, message: 'criguard: incomplete request message' });
    }
  }

  private decide(stream: StreamState): void {
    const held = stream.request!;
    if (held.deciding) return;
    held.deciding = true;
    let message: Buffer;
    try {
      const encoding = headerValue(held.headers, 'grpc-encoding');
      message = readGrpcMessage(Buffer.concat(held.copy), encoding, this.options.limits.maxMessageSize);
    } catch (err) {
      this.reject(stream, { code: GrpcCode.INTERNAL, message: `criguard: ${(err as Error).message}` });
      return;
    }
    const context = { path: held.path, headers: held.headers, signal: stream.abort!.signal };
    let decision: Promise<GateDecision>;
    try {
      decision = held.gate(message, context);
    } catch (err) {
      decision = Promise.reject(err);
    }
    decision.then(
      (d) => this.port.guard(() => this.applyDecision(stream, d)),
      (err: unknown) =>
        this.port.guard(() => {
          // SECURITY: a gate that fails refuses the call (fail closed).
          this.options.logger.warn({ err: String(err), path: held.path }, 'gate failed; call refused');
          this.applyDecision(stream, {
            action: 'reject',
            code: GrpcCode.UNKNOWN,
            message: 'criguard: internal error while checking this call',
          });
        }),
    );
  }

  private applyDecision(stream: StreamState, decision: GateDecision): void {
    if (this.port.isClosed() || !this.streams.isCurrent(stream) || stream.mode !== 'gated') return;
    if (decision.action === 'reject') {
      this.reject(stream, decision);
      return;
    }
    const held = stream.request!;
    stream.mode = 'pass';
    stream.request = undefined;
    this.release(stream);
    if (decision.checkResponse) {
      stream.response = heldResponse(decision.checkResponse);
    } else {
      stream.abort = undefined;
    }
    const rest = held.queue.drain();
    if (rest.length > 0 || held.endStream) {
      this.upstream.writeData(stream.id, rest, held.endStream ? Flag.END_STREAM : 0);
    }
    if (held.endStream) this.port.endFromClient(stream);
  }

  // ---- the held response

  /** Upstream DATA for a call whose response is held. */
  onHeldData(stream: StreamState, frame: FrameView): void {
    const response = stream.response!;
    const { content } = unpad(frame.flags, frame.payload);
    response.flowBytes += frame.payload.length;
    if (!this.hold(stream, content.length)) return;
    response.data.push(Buffer.from(content));
    if (frame.flags & Flag.END_STREAM) this.finishHeldResponse(stream);
  }

  /** An upstream header block (`flags` of its HEADERS frame) for a call whose response is held. */
  onHeldHeaders(stream: StreamState, fields: HeaderField[], flags: number): void {
    stream.response!.blocks.push({ fields, flags });
    if (flags & Flag.END_STREAM) this.finishHeldResponse(stream);
  }

  /** The upstream finished a held response: check it (successful responses only), then release or refuse. */
  private finishHeldResponse(stream: StreamState): void {
    const response = stream.response!;
    if (response.checking) return;
    response.checking = true;
    const trailers = response.blocks[response.blocks.length - 1]?.fields ?? [];
    const status = headerValue(trailers, 'grpc-status');
    if (status !== '0') {
      this.releaseResponse(stream);
      return;
    }
    let message: Buffer;
    try {
      const encoding = headerValue(response.blocks[0]?.fields ?? [], 'grpc-encoding');
      message = readGrpcMessage(response.data.copy(), encoding, this.options.limits.maxMessageSize);
    } catch {
      this.reject(stream, {
        code: GrpcCode.INTERNAL,
        message: 'criguard: unreadable response from containerd',
      });
      return;
    }
    const signal = stream.abort?.signal ?? new AbortController().signal;
    let verdict: Promise<Rejection | undefined>;
    try {
      verdict = response.check(message, signal);
    } catch (err) {
      verdict = Promise.reject(err);
    }
    const stillCurrent = (): boolean =>
      !this.port.isClosed() && this.streams.isCurrent(stream) && stream.response === response;
    verdict.then(
      (rejection) =>
        this.port.guard(() => {
          if (!stillCurrent()) return;
          if (rejection) this.reject(stream, rejection);
          else this.releaseResponse(stream);
        }),
      (err: unknown) =>
        this.port.guard(() => {
          if (!stillCurrent()) return;
          // SECURITY: a response check that fails refuses the call (fail closed).
          this.options.logger.warn({ err: String(err) }, 'response check failed; call refused');
          this.reject(stream, {
            code: GrpcCode.UNKNOWN,
            message: 'criguard: internal error while checking this call',
          });
        }),
    );
  }

  /** Passes a held response on as upstream sent it (header blocks re-encoded, DATA in 16 KiB frames). */
  private releaseResponse(stream: StreamState): void {
    const response = stream.response!;
    stream.response = undefined;
    stream.abort = undefined;
    this.release(stream);
    const body = response.data.drain();
    const sendBody = (endStream: boolean): void => {
      for (let at = 0; at < body.length || (at === 0 && endStream); at += DEFAULT_MAX_FRAME_SIZE) {
        const last = at + DEFAULT_MAX_FRAME_SIZE >= body.length;
        this.client.writeData(
          stream.id,
          body.subarray(at, at + DEFAULT_MAX_FRAME_SIZE),
          last && endStream ? Flag.END_STREAM : 0,
        );
      }
    };
    const blocks = response.blocks;
    const last = blocks[blocks.length - 1];
    const endsWithTrailers = last !== undefined && (last.flags & Flag.END_STREAM) !== 0 && blocks.length > 1;
    this.client.socket.cork();
    blocks.forEach((b, i) => {
      if (endsWithTrailers && i === blocks.length - 1) sendBody(false);
      this.client.sendHeaders(stream.id, b.flags, undefined, b.fields);
    });
    if (!endsWithTrailers && (last === undefined || !(last.flags & Flag.END_STREAM))) sendBody(true);
    this.client.socket.uncork();
    this.port.endFromUpstream(stream);
  }

  // ---- answers criguard gives itself

  /** Refuses a held call: reset upstream, answer the client, give back the flow-control window. */
  reject(stream: StreamState, rejection: Rejection): void {
    const held = stream.request;
    const resetUpstream = stream.mode !== 'local' && !stream.upstreamEnded;
    stream.mode = 'local';
    stream.abort?.abort();
    if (held && held.queue.length > 0) this.port.creditClient(0, held.queue.drain().length);
    stream.request = undefined;
    this.release(stream);
    if (stream.response && stream.response.flowBytes > 0) {
      this.upstream.write(encodeWindowUpdate(0, stream.response.flowBytes));
    }
    stream.response = undefined;
    if (resetUpstream) this.upstream.write(encodeRstStream(stream.id, ErrorCode.CANCEL));
    stream.upstreamEnded = true;
    this.answerLocally(stream, rejection);
  }

  /** Answers a call with a trailers-only gRPC status; the stream then ends on both sides for criguard. */
  answerLocally(stream: StreamState, rejection: Rejection): void {
    stream.mode = 'local';
    stream.upstreamEnded = true;
    const fields = trailersOnly(rejection.code, rejection.message);
    const block = this.client.encoder.encode(fields);
    for (const f of encodeHeaderBlock(stream.id, block, Flag.END_STREAM)) this.port.writeClient(f);
    if (stream.clientEnded) this.port.forget(stream);
    this.port.answeredLocally();
  }

  /** Upstream is gone: drops what is held for a call (its checks aborted) and answers it `rejection`. */
  abandon(stream: StreamState, rejection: Rejection): void {
    stream.abort?.abort();
    stream.request = undefined;
    stream.response = undefined;
    this.release(stream);
    this.answerLocally(stream, rejection);
  }

  // ---- held bytes

  /** Gives back what `stream` held. */
  release(stream: StreamState): void {
    this.held.release(stream.id);
  }

  /**
   * Counts `bytes` more held for `stream`; when that would pass the connection's bound, refuses the call
   * instead (RESOURCE_EXHAUSTED) and returns false.
   */
  private hold(stream: StreamState, bytes: number): boolean {
    if (this.held.tryHold(stream.id, bytes)) return true;
    this.options.logger.warn(
      { stream: stream.id, ...this.held.describe() },
      'call refused: too much data held',
    );
    this.reject(stream, {
      code: GrpcCode.RESOURCE_EXHAUSTED,
      message: 'criguard: too much data held on this connection',
    });
    return false;
  }
}
