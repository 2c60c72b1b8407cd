import type { Socket } from 'node:net';
import type { BridgeOptions } from './bridge-options.js';
import { CallRelay, type CallPort } from './call-relay.js';
import { ClientFrames } from './client-frames.js';
import { ClientPreface } from './client-preface.js';
import { GatedRequests } from './gated-request.js';
import { HeldResponses } from './held-response.js';
import { DegradedResponder, type DegradedWriter } from './degraded-responder.js';
import { pumpFrames, setPaused } from './frame-pump.js';
import { CLIENT_PREFACE, ErrorCode, Http2ProtocolError, encodeGoaway, type FrameView } from './frames.js';
import { HeldAccount } from './held-calls.js';
import { Leg } from './leg.js';
import { StreamTable, type StreamState } from './stream-table.js';
import { UpstreamFrames } from './upstream-frames.js';

export type { BridgeLimits, BridgeLogger, BridgeOptions } from './bridge-options.js';
export type { HeldBudget } from './held-calls.js';

/**
 * Forwards one client HTTP/2 connection to one upstream connection: the connection's lifecycle. Reads
 * are split into frames and forwarded in runs, as the bytes that arrived (`pumpFrames`); what a frame
 * means is `ClientFrames`' and `UpstreamFrames`' to say, what criguard holds of a call and answers itself
 * is `CallRelay`'s, `GatedRequests`' and `HeldResponses`' (ADR 0001; docs/architecture.md has the map).
 *
 * Contract:
 * - Upstream is connected only once the client sent a valid preface, within `prefaceTimeoutMs`.
 * - An upstream that cannot be connected: the `DegradedResponder` answers every call UNAVAILABLE, then
 *   GOAWAY; the client reconnects and the next connection tries containerd again. An upstream lost later
 *   closes the client.
 * - Protocol errors from either side close both connections, the client told why with a GOAWAY.
 * - No call open for `idleTimeoutMs`, or `drain()`: GOAWAY (NO_ERROR), then a graceful close once no
 *   unary call is in flight.
 * - A write queue above `writeHighWaterMark` stops the reading that feeds it until it drains.
 */
export class ConnectionBridge {
  private readonly streams = new StreamTable();
  private readonly client: Leg;
  private readonly upstream: Leg;
  private readonly preface = new ClientPreface();
  private readonly held: HeldAccount;
  private readonly relay: CallRelay;
  private readonly fromClient: ClientFrames;
  private readonly fromUpstream: UpstreamFrames;
  private readonly degraded: DegradedResponder;
  private upstreamConnected = false;
  private closed = false;
  private draining = false;
  // Bound once: the hot path allocates no closures per read.
  private readonly rawFromClient = (frame: FrameView): boolean => this.fromClient.isRaw(frame);
  private readonly specialFromClient = (frame: FrameView): void => this.fromClient.onFrame(frame);
  private readonly rawFromUpstream = (frame: FrameView): boolean => this.fromUpstream.isRaw(frame);
  private readonly specialFromUpstream = (frame: FrameView): void => this.fromUpstream.onFrame(frame);
  private readonly updateFlow = (): void => this.applyBackpressure();
  /** Resolves once the client socket is closed (both sockets are then gone). */
  readonly finished: Promise<void>;
  /** Resolves when the connection stops serving calls (close() was called); its socket may still flush. */
  readonly done: Promise<void>;
  private markDone!: () => void;
  private prefaceTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    client: Socket,
    upstream: Socket,
    private readonly options: BridgeOptions,
    private readonly onClose: (bridge: ConnectionBridge) => void,
  ) {
    const { limits } = options;
    this.client = new Leg(client, limits.maxHeaderListSize);
    this.upstream = new Leg(upstream, limits.maxHeaderListSize);
    this.held = new HeldAccount(limits.maxHeldBytes, options.heldBudget);
    const { client: c, upstream: u, streams } = this;
    const port = this.port();
    const relay = new CallRelay(c, u, streams, this.held, port, options.logger);
    const gated = new GatedRequests(u, relay, options);
    const held = new HeldResponses(c, relay, options);
    this.relay = relay;
    this.fromClient = new ClientFrames(c, u, streams, relay, gated, port, options);
    this.fromUpstream = new UpstreamFrames(c, u, streams, relay, held, port);
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
    upstream.on('data', (chunk: Buffer) =>
      this.guard(() => {
        pumpFrames(this.upstream.frames, chunk, client, this.rawFromUpstream, this.specialFromUpstream);
      }, 'upstream'),
    );
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
    }, limits.prefaceTimeoutMs);
    this.prefaceTimer.unref();
  }

  /** Bytes this connection holds in memory: held calls, incomplete frames and both write queues. */
  get bufferedBytes(): number {
    const { client, upstream } = this;
    return (
      this.held.bytes +
      client.frames.buffered +
      upstream.frames.buffered +
      this.preface.buffered +
      client.socket.writableLength +
      upstream.socket.writableLength
    );
  }

  /** Calls in flight that are not server-streaming (what a graceful stop waits for). */
  get unaryInFlight(): number {
    return this.streams.unaryInFlight;
  }

  /**
   * Graceful stop: tells the client (GOAWAY) to open no new calls here, waits until no unary call is in
   * flight (server-streaming calls are cut), then closes gracefully. Resolves with `done` (no call is
   * served any more); `finished` follows when the client has closed its side.
   */
  drain(): Promise<void> {
    if (!this.closed && !this.draining) {
      this.draining = true;
      this.writeClient(encodeGoaway(this.streams.lastClientStream, ErrorCode.NO_ERROR));
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
    const client = this.client.socket;
    if (this.closed) {
      if (!graceful) client.destroy();
      return;
    }
    this.closed = true;
    clearTimeout(this.prefaceTimer);
    clearTimeout(this.idleTimer);
    this.streams.clear();
    this.held.releaseAll();
    this.upstream.socket.destroy();
    if (graceful && !client.destroyed) {
      client.end();
      client.resume(); // 'data' handlers return at once now: input is read and dropped
      setTimeout(() => client.destroy(), 1000).unref();
    } else {
      client.destroy();
    }
    this.markDone();
    this.onClose(this);
  }

  private onClientData(chunk: Buffer): void {
    if (!this.preface.received) {
      const rest = this.preface.push(chunk);
      if (rest === undefined) return;
      clearTimeout(this.prefaceTimer);
      // Only now does the connection cost an upstream connection.
      this.options.connectUpstream(this.upstream.socket);
      this.upstream.write(CLIENT_PREFACE);
      this.armIdleTimer();
      if (rest.length === 0) return;
      chunk = rest;
    }
    if (this.degraded.active) {
      this.client.frames.push(chunk, (_buf, frame) => this.onClientFrameDegraded(frame));
      return;
    }
    pumpFrames(this.client.frames, chunk, this.upstream.socket, this.rawFromClient, this.specialFromClient);
  }

  // ---- degraded mode: containerd unreachable (the answers are `DegradedResponder`'s)

  private enterDegraded(err: NodeJS.ErrnoException): void {
    this.degraded.enter(err, this.preface.received);
    for (const stream of [...this.streams.values()]) {
      if (stream.mode !== 'local') this.relay.abandon(stream, this.degraded.unavailable());
    }
    // Frames that arrived before the failure were already handled; later ones take the degraded path.
  }

  private onClientFrameDegraded(frame: FrameView): void {
    const block = this.client.blocks.collect(frame);
    if (block === undefined) this.degraded.onFrame(frame);
    else if (block !== 'pending') this.degraded.onHeaders(block.streamId, block.flags, block.fragment);
  }

  /** The connection's side of the degraded responder: stream-table and socket operations by stream id. */
  private degradedWriter(): DegradedWriter {
    const byId = (id: number, fn: (stream: StreamState) => void): void => {
      const stream = this.streams.get(id);
      if (stream) fn(stream);
    };
    return {
      writeClient: (bytes) => this.writeClient(bytes),
      creditClient: (bytes) => this.relay.creditClient(0, bytes),
      decodeClientHeaders: (block) => void this.client.decoder.decode(block),
      hasStream: (id) => this.streams.has(id),
      openLocalStream: (id, clientEnded) => {
        this.streams.open(id, 'local', { serverStreaming: false, clientEnded, upstreamEnded: true });
        clearTimeout(this.idleTimer);
      },
      answerLocally: (id, rejection) => byId(id, (s) => this.relay.answerLocally(s, rejection)),
      endFromClient: (id) => byId(id, (s) => this.relay.endFromClient(s)),
      forget: (id) => byId(id, (s) => this.forget(s)),
      lastClientStream: () => this.streams.lastClientStream,
      isClosed: () => this.closed,
      closeGracefully: () => this.close(true),
    };
  }

  // ---- a call's end, as the relay and frame handlers report it

  /** The connection's side of the relay and frame handlers. */
  private port(): CallPort & { callOpened(): void } {
    return {
      writeClient: (bytes) => this.writeClient(bytes),
      forget: (stream) => this.forget(stream),
      guard: (fn) => this.guard(fn),
      isClosed: () => this.closed,
      answeredLocally: () => this.degraded.afterLocalAnswer(),
      callOpened: () => clearTimeout(this.idleTimer),
    };
  }

  private writeClient(bytes: Buffer): void {
    if (!this.closed) this.client.write(bytes);
  }

  private forget(stream: StreamState): void {
    if (!this.streams.remove(stream)) return;
    this.relay.release(stream);
    this.armIdleTimer();
    this.checkDrained();
  }

  // ---- idle, drain, backpressure, errors

  /** Starts the idle clock when no call is open (and stops nothing else: PINGs do not count as use). */
  private armIdleTimer(): void {
    const ms = this.options.limits.idleTimeoutMs;
    if (ms <= 0 || this.closed || this.draining || this.streams.size > 0 || !this.preface.received) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.closed || this.streams.size > 0) return;
      this.options.logger.debug({ idleMs: ms }, 'idle connection closed with GOAWAY');
      void this.drain();
    }, ms);
    this.idleTimer.unref();
  }

  private checkDrained(): void {
    if (this.draining && this.streams.unaryInFlight === 0) this.close(true);
  }

  /**
   * Stops reading from a side whose output is piling up: the client while either write queue is above the
   * high-water mark (what it sends feeds both), upstream while the client's queue is. 'drain' resumes.
   */
  private applyBackpressure(): void {
    if (this.closed) return;
    const limit = this.options.limits.writeHighWaterMark;
    const clientFull = this.client.socket.writableLength > limit;
    const upstreamFull = !this.degraded.active && this.upstream.socket.writableLength > limit;
    setPaused(this.client.socket, clientFull || upstreamFull);
    setPaused(this.upstream.socket, clientFull);
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
      if (this.preface.received) {
        const own = from === 'client' && err instanceof Http2ProtocolError;
        this.writeClient(
          encodeGoaway(
            this.streams.lastClientStream,
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
