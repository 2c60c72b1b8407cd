import type { GateDecision, Rejection, RequestGate } from './contract.js';
import { Flag, unpad, type FrameView } from './frames.js';
import { GrpcCode, MESSAGE_PREFIX_LENGTH, headerValue, readGrpcMessage } from './grpc-wire.js';
import { heldRequest, heldResponse } from './held-calls.js';
import type { HeaderBlock } from './header-block-collector.js';
import type { HeaderField } from './hpack-codec.js';
import type { Leg } from './leg.js';
import type { StreamState } from './stream-table.js';

/** What a gated request may ask of the calls on its connection (CallRelay implements it). */
export interface GatedCalls {
  /** Counts `bytes` more held for `stream`; false (the call refused) when over a bound. */
  hold(stream: StreamState, bytes: number): boolean;
  /** Gives back what `stream` held. */
  release(stream: StreamState): void;
  /** Refuses the call: upstream reset, trailers-only answer, window given back. */
  reject(stream: StreamState, rejection: Rejection): void;
  endFromClient(stream: StreamState): void;
  creditClient(streamId: number, bytes: number): void;
  /** Runs the continuation of asynchronous work under the connection's error handling. */
  guard(fn: () => void): void;
  /** Whether the connection is open and `stream` still tracked. */
  isCurrent(stream: StreamState): boolean;
}

export interface GatedRequestOptions {
  readonly limits: { readonly maxMessageSize: number };
  readonly logger: { warn(fields: Record<string, unknown>, message: string): void };
}

/**
 * Requests held for a gate (PullImage, CreateContainer).
 *
 * Contract: HEADERS go upstream at once, without END_STREAM; the request message is forwarded except its
 * last byte, so upstream (grpc-go reads exactly the announced length before calling its handler) cannot
 * act on it before the gate decides. The gate reads a copy of the whole message. Allowed → the rest and
 * END_STREAM follow, and the response is held if the gate asked to check it. Refused, a gate that fails
 * (fail closed), a message over `maxMessageSize`, unreadable or cut short → the call is rejected.
 */
export class GatedRequests {
  constructor(
    private readonly upstream: Leg,
    private readonly calls: GatedCalls,
    private readonly options: GatedRequestOptions,
  ) {}

  /** A new gated call's header block (`fields` decoded): starts it upstream and holds its request. */
  open(
    stream: StreamState,
    block: HeaderBlock,
    fields: HeaderField[],
    path: string,
    gate: RequestGate,
  ): void {
    stream.request = heldRequest(fields, path, gate);
    // The upstream sees the call start now; END_STREAM waits with the held bytes.
    this.upstream.sendHeaders(block.streamId, block.flags & ~Flag.END_STREAM, block.priority, fields);
    if (block.flags & Flag.END_STREAM) this.onEnd(stream);
  }

  /** Client DATA for a call whose gate has not decided. */
  onData(stream: StreamState, frame: FrameView): void {
    const held = stream.request!;
    const { content, padding } = unpad(frame.flags, frame.payload);
    if (padding) this.calls.creditClient(stream.id, padding);
    const bytes = Buffer.from(content);
    if (!this.calls.hold(stream, bytes.length)) {
      this.calls.creditClient(0, bytes.length); // refused: upstream never gets these bytes
      return;
    }
    held.copy.push(bytes);
    held.queue.push(bytes);
    held.received += bytes.length;
    if (held.expected === undefined && held.received >= MESSAGE_PREFIX_LENGTH) {
      const length = Buffer.concat(held.copy).readUInt32BE(1);
      if (length > this.options.limits.maxMessageSize) {
        this.calls.reject(stream, {
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
    else if (held.endStream) this.onEnd(stream);
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

  private onEnd(stream: StreamState): void {
    const held = stream.request!;
    held.endStream = true;
    if (held.expected === undefined || held.received < held.expected) {
      this.calls.reject(stream, { code: GrpcCode.INTERNAL, message: 'criguard: incomplete request message' });
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
      this.calls.reject(stream, { code: GrpcCode.INTERNAL, message: `criguard: ${(err as Error).message}` });
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
      (d) => this.calls.guard(() => this.apply(stream, d)),
      (err: unknown) =>
        this.calls.guard(() => {
          // SECURITY: a gate that fails refuses the call (fail closed).
          this.options.logger.warn({ err: String(err), path: held.path }, 'gate failed; call refused');
          this.apply(stream, {
            action: 'reject',
            code: GrpcCode.UNKNOWN,
            message: 'criguard: internal error while checking this call',
          });
        }),
    );
  }

  private apply(stream: StreamState, decision: GateDecision): void {
    if (!this.calls.isCurrent(stream) || stream.mode !== 'gated') return;
    if (decision.action === 'reject') {
      this.calls.reject(stream, decision);
      return;
    }
    const held = stream.request!;
    stream.mode = 'pass';
    stream.request = undefined;
    this.calls.release(stream);
    if (decision.checkResponse) {
      stream.response = heldResponse(decision.checkResponse);
    } else {
      stream.abort = undefined;
    }
    const rest = held.queue.drain();
    if (rest.length > 0 || held.endStream) {
      this.upstream.writeData(stream.id, rest, held.endStream ? Flag.END_STREAM : 0);
    }
    if (held.endStream) this.calls.endFromClient(stream);
  }
}
