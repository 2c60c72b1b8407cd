import type { Rejection } from './contract.js';
import { ErrorCode, Flag, encodeHeaderBlock, encodeRstStream, encodeWindowUpdate } from './frames.js';
import type { GatedCalls } from './gated-request.js';
import { GrpcCode, trailersOnly } from './grpc-wire.js';
import type { HeldAccount } from './held-calls.js';
import type { HeldCalls } from './held-response.js';
import type { Leg } from './leg.js';
import type { StreamState, StreamTable } from './stream-table.js';

/** What the relay may ask of the connection that owns it. */
export interface CallPort {
  /** Writes to the client; does nothing once the connection is closed. */
  writeClient(bytes: Buffer): void;
  /** Stops tracking `stream` (the connection may then become idle or finish draining). */
  forget(stream: StreamState): void;
  /** Runs the continuation of asynchronous work as the connection runs a read (errors close it). */
  guard(fn: () => void): void;
  isClosed(): boolean;
  /** criguard answered a call itself. */
  answeredLocally(): void;
}

/**
 * The per-call relay: the state changes of a call that both directions share — the bytes held for it,
 * the ends of its two sides, and the answers criguard gives itself. `GatedRequests` and `HeldResponses`
 * hold a call's request and response through it.
 *
 * Contract:
 * - Every byte held counts against the connection's `HeldAccount`; a call that would pass a bound is
 *   refused RESOURCE_EXHAUSTED. Everything held for a call is given back when it ends or is refused.
 * - `reject` resets the call upstream (unless upstream already ended it), gives back the flow-control
 *   window of bytes nobody will read (to the client, and to upstream for held response DATA) and answers
 *   the client with a gRPC trailers-only status. `answerLocally` only answers.
 * - A call is forgotten once both sides ended; a gated call that upstream ends first (an error before
 *   the decision) is forgotten at once, and its held request bytes credited back to the client.
 */
export class CallRelay implements GatedCalls, HeldCalls {
  constructor(
    private readonly client: Leg,
    private readonly upstream: Leg,
    private readonly streams: StreamTable,
    private readonly held: HeldAccount,
    private readonly port: CallPort,
    private readonly logger: { warn(fields: Record<string, unknown>, message: string): void },
  ) {}

  isCurrent(stream: StreamState): boolean {
    return !this.port.isClosed() && this.streams.isCurrent(stream);
  }

  guard(fn: () => void): void {
    this.port.guard(fn);
  }

  /** Gives the client back flow-control window for bytes upstream will never receive. */
  creditClient(streamId: number, bytes: number): void {
    if (bytes <= 0) return;
    this.port.writeClient(encodeWindowUpdate(0, bytes));
    if (streamId !== 0) this.port.writeClient(encodeWindowUpdate(streamId, bytes));
  }

  // ---- a call's two sides

  endFromClient(stream: StreamState): void {
    stream.clientEnded = true;
    if (stream.upstreamEnded) this.port.forget(stream);
  }

  endFromUpstream(stream: StreamState): void {
    stream.upstreamEnded = true;
    if (stream.mode === 'gated') {
      // Upstream answered before the decision (an error): the held bytes will never be sent.
      const held = stream.request!;
      if (held.queue.length > 0) this.creditClient(0, held.queue.drain().length);
      this.port.forget(stream);
    } else if (stream.clientEnded) {
      this.port.forget(stream);
    }
  }

  // ---- answers criguard gives itself

  /** Refuses a held call: reset upstream, answer the client, give back the flow-control window. */
  reject(stream: StreamState, rejection: Rejection): void {
    const held = stream.request;
    const resetUpstream = stream.mode !== 'local' && !stream.upstreamEnded;
    stream.mode = 'local';
    stream.abort?.abort();
    if (held && held.queue.length > 0) this.creditClient(0, held.queue.drain().length);
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
  hold(stream: StreamState, bytes: number): boolean {
    if (this.held.tryHold(stream.id, bytes)) return true;
    this.logger.warn({ stream: stream.id, ...this.held.describe() }, 'call refused: too much data held');
    this.reject(stream, {
      code: GrpcCode.RESOURCE_EXHAUSTED,
      message: 'criguard: too much data held on this connection',
    });
    return false;
  }
}
