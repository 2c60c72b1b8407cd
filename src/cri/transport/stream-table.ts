import type { HeldRequest, HeldResponse } from './held-calls.js';

/**
 * How criguard treats a stream: `pass` forwards it, `gated` holds its request for a gate, `local` is
 * answered (or being answered) by criguard itself and upstream no longer knows it.
 */
export type StreamMode = 'pass' | 'gated' | 'local';

/** One call (HTTP/2 stream) on a bridged connection. */
export interface StreamState {
  readonly id: number;
  mode: StreamMode;
  readonly serverStreaming: boolean;
  clientEnded: boolean;
  upstreamEnded: boolean;
  /** For gated calls: the request while the gate decides. */
  request: HeldRequest | undefined;
  /** For calls whose response is checked: the response until the check resolves. */
  response: HeldResponse | undefined;
  /** For gated calls: aborted when the call ends before its checks do. */
  abort: AbortController | undefined;
}

/**
 * The streams one connection tracks, by id, and the highest client stream id seen (for GOAWAY). A
 * stream object stays valid after it is removed: asynchronous work checks `isCurrent` before acting.
 */
export class StreamTable {
  private readonly byId = new Map<number, StreamState>();
  private lastId = 0;

  get size(): number {
    return this.byId.size;
  }

  /** Highest client stream id opened on this connection. */
  get lastClientStream(): number {
    return this.lastId;
  }

  /** Calls in flight that are not server-streaming (what a graceful stop waits for). */
  get unaryInFlight(): number {
    let n = 0;
    for (const s of this.byId.values()) if (!s.serverStreaming) n += 1;
    return n;
  }

  get(id: number): StreamState | undefined {
    return this.byId.get(id);
  }

  has(id: number): boolean {
    return this.byId.has(id);
  }

  /** Whether `stream` is still the one tracked under its id. */
  isCurrent(stream: StreamState): boolean {
    return this.byId.get(stream.id) === stream;
  }

  values(): IterableIterator<StreamState> {
    return this.byId.values();
  }

  /** Tracks a new client stream (nothing held yet). */
  open(
    id: number,
    mode: StreamMode,
    fields: {
      serverStreaming: boolean;
      clientEnded: boolean;
      upstreamEnded: boolean;
      abort?: AbortController;
    },
  ): StreamState {
    this.lastId = Math.max(this.lastId, id);
    const stream: StreamState = {
      id,
      mode,
      serverStreaming: fields.serverStreaming,
      clientEnded: fields.clientEnded,
      upstreamEnded: fields.upstreamEnded,
      request: undefined,
      response: undefined,
      abort: fields.abort,
    };
    this.byId.set(id, stream);
    return stream;
  }

  /** Stops tracking `stream` (aborting its checks); returns false if it was no longer tracked. */
  remove(stream: StreamState): boolean {
    if (this.byId.get(stream.id) !== stream) return false;
    stream.abort?.abort();
    this.byId.delete(stream.id);
    return true;
  }

  /** Aborts every stream's checks and forgets them all (the connection closed). */
  clear(): void {
    for (const s of this.byId.values()) s.abort?.abort();
    this.byId.clear();
  }
}
