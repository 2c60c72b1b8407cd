import type { Socket } from 'node:net';
import type { GateDecision, Rejection, Route } from './contract.js';
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  ErrorCode,
  Flag,
  FrameSplitter,
  FrameType,
  Http2ProtocolError,
  MAX_FRAME_PAYLOAD,
  Setting,
  decodeSettings,
  encodeFrame,
  encodeGoaway,
  encodeHeaderBlock,
  encodeRstStream,
  encodeWindowUpdate,
  unpad,
  type FrameView,
} from './frames.js';
import { GrpcCode, MESSAGE_PREFIX_LENGTH, headerValue, readGrpcMessage, trailersOnly } from './grpc-wire.js';
import {
  HeldAccount,
  heldRequest,
  heldResponse,
  type HeldBudget,
  type HeldRequest,
  type HeldResponse,
} from './held-calls.js';
import { DegradedResponder, type DegradedWriter } from './degraded-responder.js';
import { HeaderBlockDecoder, HeaderBlockEncoder, type HeaderField } from './hpack-codec.js';

export type { HeldBudget } from './held-calls.js';

/** What the bridge reports; a subset of the daemon's logger. */
export interface BridgeLogger {
  warn(fields: Record<string, unknown>, message: string): void;
  debug(fields: Record<string, unknown>, message: string): void;
}

export interface BridgeLimits {
  /** Largest decoded header list accepted from either side (bytes, RFC 7541 sizing). */
  readonly maxHeaderListSize: number;
  /** Largest gRPC message a gate will hold (the kubelet and containerd allow 16 MiB). */
  readonly maxMessageSize: number;
  /** Most streams tracked at once on one connection; more are refused locally. */
  readonly maxStreams: number;
  /**
   * Most bytes of gated requests and held responses one connection may keep at once; a call that would
   * exceed it (or the daemon-wide budget) is refused (RESOURCE_EXHAUSTED).
   */
  readonly maxHeldBytes: number;
  /**
   * Bytes queued for one peer above which criguard stops reading from the side that feeds it (and, for
   * the client, from the client itself) until the queue drains: backpressure end to end.
   */
  readonly writeHighWaterMark: number;
  /** Milliseconds a new connection has to send the HTTP/2 client preface; it is closed otherwise. */
  readonly prefaceTimeoutMs: number;
  /**
   * Milliseconds a connection may stay without any call open before criguard closes it with GOAWAY
   * (NO_ERROR), which gRPC clients answer by reconnecting on their next call; 0 disables.
   */
  readonly idleTimeoutMs: number;
}

export interface BridgeOptions {
  readonly route: (path: string) => Route;
  /** The daemon-wide bound on held bytes, besides each connection's own (`limits.maxHeldBytes`). */
  readonly heldBudget: HeldBudget;
  /** Connects the (not yet connected) upstream socket; called once the client sent a valid preface. */
  readonly connectUpstream: (upstream: Socket) => void;
  readonly logger: BridgeLogger;
  readonly limits: BridgeLimits;
  /** Message of the UNAVAILABLE answer given when containerd cannot be reached. */
  readonly upstreamName: string;
  /** Told each time a client connection finds containerd unreachable. */
  readonly onUpstreamUnavailable?: () => void;
}

type StreamMode = 'pass' | 'gated' | 'local';

interface StreamState {
  readonly id: number;
  mode: StreamMode;
  readonly serverStreaming: boolean;
  clientEnded: boolean;
  upstreamEnded: boolean;
  request: HeldRequest | undefined;
  response: HeldResponse | undefined;
  /** For gated calls: aborted when the call ends before its checks do. */
  abort: AbortController | undefined;
}

interface PendingBlock {
  readonly streamId: number;
  readonly flags: number;
  readonly priority: Buffer | undefined;
  readonly parts: Buffer[];
  size: number;
}

const PREFACE_LENGTH = CLIENT_PREFACE.length;

/**
 * Forwards one client HTTP/2 connection to one upstream connection, frame by frame.
 *
 * Contract:
 * - Every frame is forwarded as the bytes that arrived, except header blocks (decoded and re-encoded
 *   per leg, so each leg keeps its own HPACK state) and the DATA of calls a gate holds.
 * - Calls routed to a gate: HEADERS go upstream at once; the request message is forwarded except its
 *   last byte, so containerd cannot act on it before the gate decides. Allowed → the rest follows.
 *   Refused → the upstream stream is reset and the client gets a gRPC trailers-only answer. Bytes the
 *   client sent that upstream never receives are credited back to the client with WINDOW_UPDATE.
 * - An upstream that cannot be connected: every call is answered UNAVAILABLE, then GOAWAY; the client
 *   reconnects and the next connection tries containerd again. An upstream lost later closes the client.
 * - Protocol errors from either side close both connections.
 */
export class ConnectionBridge {
  private readonly streams = new Map<number, StreamState>();
  // Each side may send frames up to the SETTINGS_MAX_FRAME_SIZE the other side advertised (16 KiB until
  // it says otherwise); a larger frame is a connection error before its payload is buffered.
  private readonly fromClient = new FrameSplitter(DEFAULT_MAX_FRAME_SIZE);
  private readonly fromUpstream = new FrameSplitter(DEFAULT_MAX_FRAME_SIZE);
  private readonly clientDecoder: HeaderBlockDecoder;
  private readonly upstreamDecoder: HeaderBlockDecoder;
  private readonly toClient = new HeaderBlockEncoder();
  private readonly toUpstream = new HeaderBlockEncoder();
  private clientBlock: PendingBlock | undefined;
  private upstreamBlock: PendingBlock | undefined;
  private prefaceBytes: Buffer | undefined = Buffer.alloc(0);
  private upstreamConnected = false;
  private readonly degraded: DegradedResponder;
  private lastClientStream = 0;
  // Bound once: the hot path allocates no closures per read.
  private readonly rawFromClient = (frame: FrameView): boolean => this.isRawFromClient(frame);
  private readonly specialFromClient = (frame: FrameView): void => this.onClientFrame(frame);
  private readonly rawFromUpstream = (frame: FrameView): boolean => this.isRawFromUpstream(frame);
  private readonly specialFromUpstream = (frame: FrameView): void => this.onUpstreamFrame(frame);
  private closed = false;
  private draining = false;
  /** Resolves once the client socket is closed (both sockets are then gone). */
  readonly finished: Promise<void>;
  /** Resolves when the connection stops serving calls (close() was called); its socket may still flush. */
  readonly done: Promise<void>;
  private markDone!: () => void;
  private readonly held: HeldAccount;
  private prefaceTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly updateFlow = (): void => this.applyBackpressure();

  constructor(
    private readonly client: Socket,
    private readonly upstream: Socket,
    private readonly options: BridgeOptions,
    private readonly onClose: (bridge: ConnectionBridge) => void,
  ) {
    this.clientDecoder = new HeaderBlockDecoder(options.limits.maxHeaderListSize);
    this.upstreamDecoder = new HeaderBlockDecoder(options.limits.maxHeaderListSize);
    this.held = new HeldAccount(options.limits.maxHeldBytes, options.heldBudget);
    this.degraded = new DegradedResponder(this.degradedWriter(), options);
    this.finished = new Promise((resolve) => client.once('close', () => resolve()));
    this.done = new Promise((resolve) => (this.markDone = resolve));
    client.setNoDelay?.(true);
    client.on('data', (chunk: Buffer) => this.guard(() => this.onClientData(chunk), 'client'));
    client.on('error', () => this.close());
    client.on('close', () => this.close());
    client.on('drain', this.updateFlow);
    upstream.on('connect', () => {
      this.upstreamConnected = true;
    });
    upstream.on('data', (chunk: Buffer) => this.guard(() => this.onUpstreamData(chunk), 'upstream'));
    upstream.on('drain', this.updateFlow);
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (!this.upstreamConnected && !this.closed) this.guard(() => this.enterDegraded(err));
      else this.close();
    });
    upstream.on('close', () => {
      if (this.upstreamConnected || !this.degraded.active) this.close();
    });
    this.prefaceTimer = setTimeout(() => {
      this.options.logger.debug({}, 'no HTTP/2 preface in time; connection closed');
      this.close();
    }, options.limits.prefaceTimeoutMs);
    this.prefaceTimer.unref();
  }

  /** Bytes this connection holds in memory: held calls, incomplete frames and both write queues. */
  get bufferedBytes(): number {
    return (
      this.held.bytes +
      this.fromClient.buffered +
      this.fromUpstream.buffered +
      (this.prefaceBytes?.length ?? 0) +
      this.client.writableLength +
      this.upstream.writableLength
    );
  }

  /** Calls in flight that are not server-streaming (what a graceful stop waits for). */
  get unaryInFlight(): number {
    let n = 0;
    for (const s of this.streams.values()) if (!s.serverStreaming) n += 1;
    return n;
  }

  /**
   * Graceful stop: tells the client (GOAWAY) to open no new calls here, waits until no unary call is in
   * flight (server-streaming calls are cut), then closes gracefully. Resolves with `done` (no call is
   * served any more); `finished` follows when the client has closed its side.
   */
  drain(): Promise<void> {
    if (!this.closed && !this.draining) {
      this.draining = true;
      this.writeClient(encodeGoaway(this.lastClientStream, ErrorCode.NO_ERROR));
      this.checkDrained();
    }
    return this.done;
  }

  /**
   * Closes both connections. The upstream one goes at once (everything it answered was passed on or is
   * being cut). `graceful` half-closes the client's socket after what was written (the last answers, a
   * GOAWAY), keeps reading and discarding what the client still sends (closing a socket with unread input
   * can reset it and lose those answers), and closes when the client closes its side, or after 1 s;
   * otherwise, and for a connection already closing gracefully, the socket is destroyed.
   */
  close(graceful = false): void {
    if (this.closed) {
      if (!graceful) this.client.destroy();
      return;
    }
    this.closed = true;
    clearTimeout(this.prefaceTimer);
    clearTimeout(this.idleTimer);
    for (const s of this.streams.values()) s.abort?.abort();
    this.streams.clear();
    this.held.releaseAll();
    this.upstream.destroy();
    if (graceful && !this.client.destroyed) {
      const client = this.client;
      client.end();
      client.resume(); // 'data' handlers return at once now: input is read and dropped
      setTimeout(() => client.destroy(), 1000).unref();
    } else {
      this.client.destroy();
    }
    this.markDone();
    this.onClose(this);
  }

  // ---- client → upstream

  private onClientData(chunk: Buffer): void {
    if (this.prefaceBytes) {
      const have = Buffer.concat([this.prefaceBytes, chunk]);
      if (have.length < PREFACE_LENGTH) {
        if (!CLIENT_PREFACE.subarray(0, have.length).equals(have))
          throw new Http2ProtocolError('bad preface');
        this.prefaceBytes = have;
        return;
      }
      if (!have.subarray(0, PREFACE_LENGTH).equals(CLIENT_PREFACE))
        throw new Http2ProtocolError('bad preface');
      this.prefaceBytes = undefined;
      clearTimeout(this.prefaceTimer);
      // Only now does the connection cost an upstream connection.
      this.options.connectUpstream(this.upstream);
      this.upstream.write(have.subarray(0, PREFACE_LENGTH));
      this.armIdleTimer();
      chunk = have.subarray(PREFACE_LENGTH);
      if (chunk.length === 0) return;
    }
    if (this.degraded.active) {
      this.fromClient.push(chunk, (_buf, frame) => this.onClientFrameDegraded(frame));
      return;
    }
    this.pump(this.fromClient, chunk, this.upstream, this.rawFromClient, this.specialFromClient);
  }

  private isRawFromClient(frame: FrameView): boolean {
    if (this.clientBlock) return false;
    switch (frame.type) {
      case FrameType.DATA: {
        const stream = this.streams.get(frame.streamId);
        if (!stream) return true;
        if (stream.mode !== 'pass') return false;
        if (frame.flags & Flag.END_STREAM) this.endFromClient(stream);
        return true;
      }
      case FrameType.HEADERS:
      case FrameType.CONTINUATION:
      case FrameType.PUSH_PROMISE:
        return false;
      case FrameType.SETTINGS:
        if (!(frame.flags & Flag.ACK)) this.applyClientSettings(frame.payload);
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

  private onClientFrame(frame: FrameView): void {
    if (this.collectBlock('client', frame)) return;
    const stream = this.streams.get(frame.streamId);
    switch (frame.type) {
      case FrameType.DATA:
        if (stream?.mode === 'gated') this.onGatedData(stream, frame);
        else this.creditClient(0, frame.payload.length); // a call criguard answered itself
        if (stream && frame.flags & Flag.END_STREAM) this.endFromClient(stream);
        return;
      case FrameType.RST_STREAM:
        if (stream && stream.mode !== 'local') this.upstream.write(frameBytes(frame));
        if (stream) this.forget(stream);
        return;
      case FrameType.WINDOW_UPDATE:
        return; // for a call criguard answered itself: upstream does not know the stream
      case FrameType.PUSH_PROMISE:
        throw new Http2ProtocolError('PUSH_PROMISE from a client');
      default:
        this.upstream.write(frameBytes(frame));
    }
  }

  private onClientHeaders(block: PendingBlock): void {
    const fields = this.clientDecoder.decode(Buffer.concat(block.parts));
    const endStream = (block.flags & Flag.END_STREAM) !== 0;
    let stream = this.streams.get(block.streamId);
    if (stream) {
      if (stream.mode !== 'local') this.sendHeaders(this.upstream, this.toUpstream, block, fields);
      if (endStream) this.endFromClient(stream);
      return;
    }
    const id = block.streamId;
    this.lastClientStream = Math.max(this.lastClientStream, id);
    const path = headerValue(fields, ':path') ?? '';
    let route = this.options.route(path);
    if (this.streams.size >= this.options.limits.maxStreams) {
      route = {
        kind: 'reject',
        code: GrpcCode.RESOURCE_EXHAUSTED,
        message: 'criguard: too many concurrent calls',
      };
    }
    stream = {
      id,
      mode: route.kind === 'reject' ? 'local' : route.kind === 'gate' ? 'gated' : 'pass',
      serverStreaming: route.kind === 'pass' && route.serverStreaming,
      clientEnded: endStream,
      upstreamEnded: false,
      request: undefined,
      response: undefined,
      abort: route.kind === 'gate' ? new AbortController() : undefined,
    };
    this.streams.set(id, stream);
    clearTimeout(this.idleTimer);
    if (route.kind === 'reject') {
      this.answerLocally(stream, route);
      return;
    }
    if (route.kind === 'gate') {
      stream.request = heldRequest(fields, path, route.gate);
      // The upstream sees the call start now; END_STREAM waits with the held bytes.
      this.sendHeaders(
        this.upstream,
        this.toUpstream,
        { ...block, flags: block.flags & ~Flag.END_STREAM },
        fields,
      );
      if (endStream) this.onGatedEnd(stream);
      return;
    }
    this.sendHeaders(this.upstream, this.toUpstream, block, fields);
  }

  private onGatedData(stream: StreamState, frame: FrameView): void {
    const held = stream.request!;
    const { content, padding } = unpad(frame.flags, frame.payload);
    if (padding) this.creditClient(stream.id, padding);
    const bytes = Buffer.from(content);
    if (!this.hold(stream, bytes.length)) {
      this.creditClient(0, bytes.length); // refused: upstream never gets these bytes
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
    this.writeData(this.upstream, stream.id, held.queue.take(n), 0);
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
      (d) => this.guard(() => this.applyDecision(stream, d)),
      (err: unknown) =>
        this.guard(() => {
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
    if (this.closed || this.streams.get(stream.id) !== stream || stream.mode !== 'gated') return;
    if (decision.action === 'reject') {
      this.reject(stream, decision);
      return;
    }
    const held = stream.request!;
    stream.mode = 'pass';
    stream.request = undefined;
    this.unhold(stream);
    if (decision.checkResponse) {
      stream.response = heldResponse(decision.checkResponse);
    } else {
      stream.abort = undefined;
    }
    const rest = held.queue.drain();
    if (rest.length > 0 || held.endStream) {
      this.writeData(this.upstream, stream.id, rest, held.endStream ? Flag.END_STREAM : 0);
    }
    if (held.endStream) this.endFromClient(stream);
  }

  /** Refuses a held call: reset upstream, answer the client, give back the flow-control window. */
  private reject(stream: StreamState, rejection: Rejection): void {
    const held = stream.request;
    const resetUpstream = stream.mode !== 'local' && !stream.upstreamEnded;
    stream.mode = 'local';
    stream.abort?.abort();
    if (held && held.queue.length > 0) this.creditClient(0, held.queue.drain().length);
    stream.request = undefined;
    this.unhold(stream);
    if (stream.response && stream.response.flowBytes > 0) {
      this.upstream.write(encodeWindowUpdate(0, stream.response.flowBytes));
    }
    stream.response = undefined;
    if (resetUpstream) this.upstream.write(encodeRstStream(stream.id, ErrorCode.CANCEL));
    stream.upstreamEnded = true;
    this.answerLocally(stream, rejection);
  }

  /** Answers a call with a trailers-only gRPC status; the stream then ends on both sides for criguard. */
  private answerLocally(stream: StreamState, rejection: Rejection): void {
    stream.mode = 'local';
    stream.upstreamEnded = true;
    const fields = trailersOnly(rejection.code, rejection.message);
    const block = this.toClient.encode(fields);
    for (const f of encodeHeaderBlock(stream.id, block, Flag.END_STREAM)) this.writeClient(f);
    if (stream.clientEnded) this.forget(stream);
    this.degraded.afterLocalAnswer();
  }

  // ---- upstream → client

  private onUpstreamData(chunk: Buffer): void {
    this.pump(this.fromUpstream, chunk, this.client, this.rawFromUpstream, this.specialFromUpstream);
  }

  private isRawFromUpstream(frame: FrameView): boolean {
    if (this.upstreamBlock) return false;
    switch (frame.type) {
      case FrameType.DATA: {
        const stream = this.streams.get(frame.streamId);
        if (!stream) return true;
        if (stream.mode !== 'pass' || stream.response) return false;
        if (frame.flags & Flag.END_STREAM) this.endFromUpstream(stream);
        return true;
      }
      case FrameType.HEADERS:
      case FrameType.CONTINUATION:
      case FrameType.PUSH_PROMISE:
        return false;
      case FrameType.SETTINGS:
        if (!(frame.flags & Flag.ACK)) this.applyUpstreamSettings(frame.payload);
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

  private onUpstreamFrame(frame: FrameView): void {
    if (this.collectBlock('upstream', frame)) return;
    const stream = this.streams.get(frame.streamId);
    switch (frame.type) {
      case FrameType.DATA: {
        if (!stream || stream.mode === 'local') {
          if (frame.payload.length > 0) this.upstream.write(encodeWindowUpdate(0, frame.payload.length));
          return;
        }
        const response = stream.response;
        if (!response) {
          // An answer to a call still being decided (an error, e.g. deadline exceeded): pass it on.
          this.client.write(frameBytes(frame));
          if (frame.flags & Flag.END_STREAM) this.endFromUpstream(stream);
          return;
        }
        const { content } = unpad(frame.flags, frame.payload);
        response.flowBytes += frame.payload.length;
        if (!this.hold(stream, content.length)) return;
        response.data.push(Buffer.from(content));
        if (frame.flags & Flag.END_STREAM) this.finishHeldResponse(stream);
        return;
      }
      case FrameType.RST_STREAM:
        if (!stream || stream.mode === 'local') return;
        if (stream.response?.flowBytes) this.upstream.write(encodeWindowUpdate(0, stream.response.flowBytes));
        this.client.write(frameBytes(frame));
        this.forget(stream);
        return;
      case FrameType.WINDOW_UPDATE:
        return; // for a call criguard answered itself
      case FrameType.PUSH_PROMISE:
        throw new Http2ProtocolError('PUSH_PROMISE from upstream');
      default:
        this.client.write(frameBytes(frame));
    }
  }

  private onUpstreamHeaders(block: PendingBlock): void {
    const fields = this.upstreamDecoder.decode(Buffer.concat(block.parts));
    const stream = this.streams.get(block.streamId);
    if (stream?.mode === 'local') return;
    if (stream?.response) {
      stream.response.blocks.push({ fields, flags: block.flags });
      if (block.flags & Flag.END_STREAM) this.finishHeldResponse(stream);
      return;
    }
    this.sendHeaders(this.client, this.toClient, block, fields);
    if (stream && block.flags & Flag.END_STREAM) this.endFromUpstream(stream);
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
    verdict.then(
      (rejection) =>
        this.guard(() => {
          if (this.closed || this.streams.get(stream.id) !== stream || stream.response !== response) return;
          if (rejection) this.reject(stream, rejection);
          else this.releaseResponse(stream);
        }),
      (err: unknown) =>
        this.guard(() => {
          if (this.closed || this.streams.get(stream.id) !== stream || stream.response !== response) return;
          // SECURITY: a response check that fails refuses the call (fail closed).
          this.options.logger.warn({ err: String(err) }, 'response check failed; call refused');
          this.reject(stream, {
            code: GrpcCode.UNKNOWN,
            message: 'criguard: internal error while checking this call',
          });
        }),
    );
  }

  private releaseResponse(stream: StreamState): void {
    const response = stream.response!;
    stream.response = undefined;
    stream.abort = undefined;
    this.unhold(stream);
    const body = response.data.drain();
    const sendBody = (endStream: boolean): void => {
      for (let at = 0; at < body.length || (at === 0 && endStream); at += DEFAULT_MAX_FRAME_SIZE) {
        const last = at + DEFAULT_MAX_FRAME_SIZE >= body.length;
        this.writeData(
          this.client,
          stream.id,
          body.subarray(at, at + DEFAULT_MAX_FRAME_SIZE),
          last && endStream ? Flag.END_STREAM : 0,
        );
      }
    };
    const blocks = response.blocks;
    const last = blocks[blocks.length - 1];
    const endsWithTrailers = last !== undefined && (last.flags & Flag.END_STREAM) !== 0 && blocks.length > 1;
    this.client.cork();
    blocks.forEach((b, i) => {
      if (endsWithTrailers && i === blocks.length - 1) sendBody(false);
      this.sendHeaders(this.client, this.toClient, { ...emptyBlock(stream.id), flags: b.flags }, b.fields);
    });
    if (!endsWithTrailers && (last === undefined || !(last.flags & Flag.END_STREAM))) sendBody(true);
    this.client.uncork();
    this.endFromUpstream(stream);
  }

  // ---- degraded mode: containerd unreachable (the answers are `DegradedResponder`'s)

  private enterDegraded(err: NodeJS.ErrnoException): void {
    this.degraded.enter(err, !this.prefaceBytes);
    for (const stream of [...this.streams.values()]) {
      if (stream.mode !== 'local') {
        stream.abort?.abort();
        stream.request = undefined;
        stream.response = undefined;
        this.unhold(stream);
        this.answerLocally(stream, this.degraded.unavailable());
      }
    }
    // Frames that arrived before the failure were already handled; later ones take the degraded path.
  }

  private onClientFrameDegraded(frame: FrameView): void {
    if (this.collectBlock('client', frame)) return;
    this.degraded.onFrame(frame);
  }

  /** The connection's side of the degraded responder: stream-table and socket operations by stream id. */
  private degradedWriter(): DegradedWriter {
    const byId = (id: number, fn: (stream: StreamState) => void): void => {
      const stream = this.streams.get(id);
      if (stream) fn(stream);
    };
    return {
      writeClient: (bytes) => this.writeClient(bytes),
      creditClient: (bytes) => this.creditClient(0, bytes),
      decodeClientHeaders: (block) => void this.clientDecoder.decode(block),
      hasStream: (id) => this.streams.has(id),
      openLocalStream: (id, clientEnded) => {
        this.lastClientStream = Math.max(this.lastClientStream, id);
        this.streams.set(id, {
          id,
          mode: 'local',
          serverStreaming: false,
          clientEnded,
          upstreamEnded: true,
          request: undefined,
          response: undefined,
          abort: undefined,
        });
        clearTimeout(this.idleTimer);
      },
      answerLocally: (id, rejection) => byId(id, (s) => this.answerLocally(s, rejection)),
      endFromClient: (id) => byId(id, (s) => this.endFromClient(s)),
      forget: (id) => byId(id, (s) => this.forget(s)),
      lastClientStream: () => this.lastClientStream,
      isClosed: () => this.closed,
      closeGracefully: () => this.close(true),
    };
  }

  // ---- shared plumbing

  /**
   * Splits `chunk` into frames; consecutive frames `isRaw` accepts are written to `target` as one slice,
   * the others go to `special` in order. Writes are corked so one read gives one writev.
   */
  private pump(
    splitter: FrameSplitter,
    chunk: Buffer,
    target: Socket,
    isRaw: (frame: FrameView) => boolean,
    special: (frame: FrameView) => void,
  ): void {
    let runBuffer: Buffer | undefined;
    let runStart = 0;
    let runEnd = 0;
    target.cork();
    try {
      splitter.push(chunk, (buffer, frame) => {
        if (isRaw(frame)) {
          if (runBuffer !== buffer || runEnd !== frame.start) {
            if (runBuffer) target.write(runBuffer.subarray(runStart, runEnd));
            runBuffer = buffer;
            runStart = frame.start;
          }
          runEnd = frame.end;
          return;
        }
        if (runBuffer) target.write(runBuffer.subarray(runStart, runEnd));
        runBuffer = undefined;
        special(frame);
      });
      if (runBuffer) target.write(runBuffer.subarray(runStart, runEnd));
    } finally {
      target.uncork();
    }
  }

  /** Accumulates HEADERS/CONTINUATION; returns true when the frame was part of a header block. */
  private collectBlock(from: 'client' | 'upstream', frame: FrameView): boolean {
    const pending = from === 'client' ? this.clientBlock : this.upstreamBlock;
    if (pending) {
      if (frame.type !== FrameType.CONTINUATION || frame.streamId !== pending.streamId) {
        throw new Http2ProtocolError('header block interrupted');
      }
      pending.parts.push(Buffer.from(frame.payload));
      pending.size += frame.payload.length;
    } else if (frame.type === FrameType.HEADERS) {
      if (frame.streamId === 0) throw new Http2ProtocolError('HEADERS on stream 0');
      const { content } = unpad(frame.flags, frame.payload);
      const hasPriority = (frame.flags & Flag.PRIORITY) !== 0;
      if (hasPriority && content.length < 5) throw new Http2ProtocolError('short PRIORITY fields');
      const block: PendingBlock = {
        streamId: frame.streamId,
        flags: frame.flags,
        priority: hasPriority ? Buffer.from(content.subarray(0, 5)) : undefined,
        parts: [Buffer.from(hasPriority ? content.subarray(5) : content)],
        size: content.length,
      };
      if (from === 'client') this.clientBlock = block;
      else this.upstreamBlock = block;
    } else if (frame.type === FrameType.CONTINUATION) {
      throw new Http2ProtocolError('CONTINUATION without HEADERS');
    } else {
      return false;
    }
    const current = (from === 'client' ? this.clientBlock : this.upstreamBlock)!;
    if (current.size > this.options.limits.maxHeaderListSize) {
      throw new Http2ProtocolError('header block too large', ErrorCode.ENHANCE_YOUR_CALM);
    }
    if (frame.flags & Flag.END_HEADERS) {
      if (from === 'client') {
        this.clientBlock = undefined;
        if (this.degraded.active)
          this.degraded.onHeaders(current.streamId, current.flags, Buffer.concat(current.parts));
        else this.onClientHeaders(current);
      } else {
        this.upstreamBlock = undefined;
        this.onUpstreamHeaders(current);
      }
    }
    return true;
  }

  private sendHeaders(
    target: Socket,
    encoder: HeaderBlockEncoder,
    block: PendingBlock,
    fields: HeaderField[],
  ): void {
    const frames = encodeHeaderBlock(block.streamId, encoder.encode(fields), block.flags, block.priority);
    for (const f of frames) target.write(f);
  }

  private writeData(target: Socket, streamId: number, payload: Buffer, flags: number): void {
    target.write(encodeFrame(FrameType.DATA, flags, streamId, payload));
  }

  private writeClient(bytes: Buffer): void {
    if (!this.closed) this.client.write(bytes);
  }

  /** Gives the client back flow-control window for bytes upstream will never receive. */
  private creditClient(streamId: number, bytes: number): void {
    if (bytes <= 0) return;
    this.writeClient(encodeWindowUpdate(0, bytes));
    if (streamId !== 0) this.writeClient(encodeWindowUpdate(streamId, bytes));
  }

  private applyClientSettings(payload: Buffer): void {
    for (const [id, value] of decodeSettings(payload)) {
      if (id === Setting.MAX_FRAME_SIZE) raiseFrameLimit(this.fromUpstream, value);
      if (id === Setting.HEADER_TABLE_SIZE) {
        // The client's decoder size: binds our encoder towards it, and upstream's encoder towards us.
        this.toClient.setPeerTableSize(value);
        this.upstreamDecoder.allowTableSize(value);
      }
    }
  }

  private applyUpstreamSettings(payload: Buffer): void {
    for (const [id, value] of decodeSettings(payload)) {
      if (id === Setting.MAX_FRAME_SIZE) raiseFrameLimit(this.fromClient, value);
      if (id === Setting.HEADER_TABLE_SIZE) {
        this.toUpstream.setPeerTableSize(value);
        this.clientDecoder.allowTableSize(value);
      }
    }
  }

  private endFromClient(stream: StreamState): void {
    stream.clientEnded = true;
    if (stream.upstreamEnded) this.forget(stream);
  }

  private endFromUpstream(stream: StreamState): void {
    stream.upstreamEnded = true;
    if (stream.mode === 'gated') {
      // Upstream answered before the decision (an error): the held bytes will never be sent.
      const held = stream.request!;
      if (held.queue.length > 0) this.creditClient(0, held.queue.drain().length);
      this.forget(stream);
    } else if (stream.clientEnded) {
      this.forget(stream);
    }
  }

  private forget(stream: StreamState): void {
    if (this.streams.get(stream.id) !== stream) return;
    stream.abort?.abort();
    this.unhold(stream);
    this.streams.delete(stream.id);
    this.armIdleTimer();
    this.checkDrained();
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

  private unhold(stream: StreamState): void {
    this.held.release(stream.id);
  }

  /** Starts the idle clock when no call is open (and stops nothing else: PINGs do not count as use). */
  private armIdleTimer(): void {
    const ms = this.options.limits.idleTimeoutMs;
    if (ms <= 0 || this.closed || this.draining || this.streams.size > 0 || this.prefaceBytes) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.closed || this.streams.size > 0) return;
      this.options.logger.debug({ idleMs: ms }, 'idle connection closed with GOAWAY');
      void this.drain();
    }, ms);
    this.idleTimer.unref();
  }

  /**
   * Stops reading from a side whose output is piling up: the client while either write queue is above the
   * high-water mark (what it sends feeds both), upstream while the client's queue is. 'drain' resumes.
   */
  private applyBackpressure(): void {
    if (this.closed) return;
    const limit = this.options.limits.writeHighWaterMark;
    const clientFull = this.client.writableLength > limit;
    const upstreamFull = !this.degraded.active && this.upstream.writableLength > limit;
    setPaused(this.client, clientFull || upstreamFull);
    setPaused(this.upstream, clientFull);
  }

  private checkDrained(): void {
    if (this.draining && this.unaryInFlight === 0) this.close(true);
  }

  /**
   * Runs a handler, then applies backpressure. Any error closes the connection (both legs), logged once;
   * the client is told why with a GOAWAY carrying the HTTP/2 error code (its own protocol errors are
   * named, an upstream's are INTERNAL_ERROR).
   */
  private guard(fn: () => void, from?: 'client' | 'upstream'): void {
    if (this.closed) return;
    try {
      fn();
    } catch (err) {
      this.options.logger.warn(
        {
          err: err instanceof Error ? err.message : String(err),
          code: (err as { code?: string }).code,
          from,
        },
        'connection closed on error',
      );
      if (!this.prefaceBytes) {
        const own = from === 'client' && err instanceof Http2ProtocolError;
        this.writeClient(
          encodeGoaway(
            this.lastClientStream,
            own ? err.http2Code : ErrorCode.INTERNAL_ERROR,
            own ? err.message : 'criguard: connection closed on an upstream or internal error',
          ),
        );
      }
      this.close(true);
      return;
    }
    this.applyBackpressure();
  }
}

function setPaused(socket: Socket, paused: boolean): void {
  if (paused && !socket.isPaused()) socket.pause();
  else if (!paused && socket.isPaused()) socket.resume();
}

/** A peer advertised SETTINGS_MAX_FRAME_SIZE: frames sent to it may now be that large (RFC 9113 §6.5.2). */
function raiseFrameLimit(splitter: FrameSplitter, value: number): void {
  if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_FRAME_PAYLOAD) {
    throw new Http2ProtocolError(`SETTINGS_MAX_FRAME_SIZE ${value} is out of range`);
  }
  splitter.maxPayload = Math.max(splitter.maxPayload, value);
}

function frameBytes(frame: FrameView): Buffer {
  return encodeFrame(frame.type, frame.flags, frame.streamId, frame.payload);
}

function emptyBlock(streamId: number): PendingBlock {
  return { streamId, flags: 0, priority: undefined, parts: [], size: 0 };
}
