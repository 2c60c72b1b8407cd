import type { Rejection } from './contract.js';
import { DEFAULT_MAX_FRAME_SIZE, Flag, unpad, type FrameView } from './frames.js';
import { GrpcCode, headerValue, readGrpcMessage } from './grpc-wire.js';
import type { HeaderField } from './hpack-codec.js';
import type { Leg } from './leg.js';
import type { StreamState } from './stream-table.js';

/** What a held response may ask of the calls on its connection (CallRelay implements it). */
export interface HeldCalls {
  /** Counts `bytes` more held for `stream`; false (the call refused) when over a bound. */
  hold(stream: StreamState, bytes: number): boolean;
  /** Gives back what `stream` held. */
  release(stream: StreamState): void;
  /** Refuses the call: upstream reset, trailers-only answer, window given back. */
  reject(stream: StreamState, rejection: Rejection): void;
  endFromUpstream(stream: StreamState): void;
  /** Runs the continuation of asynchronous work under the connection's error handling. */
  guard(fn: () => void): void;
  /** Whether the connection is open and `stream` still tracked. */
  isCurrent(stream: StreamState): boolean;
}

export interface HeldResponseOptions {
  readonly limits: { readonly maxMessageSize: number };
  readonly logger: { warn(fields: Record<string, unknown>, message: string): void };
}

/**
 * Responses held until the gate's response check resolves (a gate that asked to check PullImage's answer).
 *
 * Contract: header blocks and DATA are kept (DATA counted as held bytes, its flow-control bytes noted for
 * a refusal) until upstream ends the stream. An unsuccessful response (grpc-status not 0) is passed on
 * unchecked; a successful one is checked and then passed on as received, or refused: a check that
 * rejects, fails (fail closed) or a message that cannot be read refuses the call.
 */
export class HeldResponses {
  constructor(
    private readonly client: Leg,
    private readonly calls: HeldCalls,
    private readonly options: HeldResponseOptions,
  ) {}

  /** Upstream DATA for a call whose response is held. */
  onData(stream: StreamState, frame: FrameView): void {
    const response = stream.response!;
    const { content } = unpad(frame.flags, frame.payload);
    response.flowBytes += frame.payload.length;
    if (!this.calls.hold(stream, content.length)) return;
    response.data.push(Buffer.from(content));
    if (frame.flags & Flag.END_STREAM) this.finish(stream);
  }

  /** An upstream header block (`flags` of its HEADERS frame) for a call whose response is held. */
  onHeaders(stream: StreamState, fields: HeaderField[], flags: number): void {
    stream.response!.blocks.push({ fields, flags });
    if (flags & Flag.END_STREAM) this.finish(stream);
  }

  /** The upstream finished a held response: check it (successful responses only), then release or refuse. */
  private finish(stream: StreamState): void {
    const response = stream.response!;
    if (response.checking) return;
    response.checking = true;
    const trailers = response.blocks[response.blocks.length - 1]?.fields ?? [];
    const status = headerValue(trailers, 'grpc-status');
    if (status !== '0') {
      this.release(stream);
      return;
    }
    let message: Buffer;
    try {
      const encoding = headerValue(response.blocks[0]?.fields ?? [], 'grpc-encoding');
      message = readGrpcMessage(response.data.copy(), encoding, this.options.limits.maxMessageSize);
    } catch {
      this.calls.reject(stream, {
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
    const stillHeld = (): boolean => this.calls.isCurrent(stream) && stream.response === response;
    verdict.then(
      (rejection) =>
        this.calls.guard(() => {
          if (!stillHeld()) return;
          if (rejection) this.calls.reject(stream, rejection);
          else this.release(stream);
        }),
      (err: unknown) =>
        this.calls.guard(() => {
          if (!stillHeld()) return;
          // SECURITY: a response check that fails refuses the call (fail closed).
          this.options.logger.warn({ err: String(err) }, 'response check failed; call refused');
          this.calls.reject(stream, {
            code: GrpcCode.UNKNOWN,
            message: 'criguard: internal error while checking this call',
          });
        }),
    );
  }

  /** Passes a held response on as upstream sent it (header blocks re-encoded, DATA in 16 KiB frames). */
  private release(stream: StreamState): void {
    const response = stream.response!;
    stream.response = undefined;
    stream.abort = undefined;
    this.calls.release(stream);
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
    this.calls.endFromUpstream(stream);
  }
}
