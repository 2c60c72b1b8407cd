import { ByteQueue } from './byte-queue.js';
import type { GateDecision, RequestGate } from './contract.js';
import type { HeaderField } from './hpack-codec.js';

/** A gated request while its gate decides: what the gate reads and what is not yet forwarded. */
export interface HeldRequest {
  /** Every request byte received so far: what the gate reads. */
  readonly copy: Buffer[];
  /** Request bytes not yet forwarded upstream. */
  readonly queue: ByteQueue;
  received: number;
  forwarded: number;
  /** The length of the whole gRPC message with its prefix, once the prefix is in. */
  expected: number | undefined;
  endStream: boolean;
  deciding: boolean;
  readonly headers: HeaderField[];
  readonly path: string;
  readonly gate: RequestGate;
}

/** An upstream response held until the gate's response check resolves. */
export interface HeldResponse {
  readonly check: NonNullable<Extract<GateDecision, { action: 'forward' }>['checkResponse']>;
  readonly blocks: Array<{ fields: HeaderField[]; flags: number }>;
  readonly data: ByteQueue;
  /** Bytes of upstream DATA (payload and padding) not yet passed to the client. */
  flowBytes: number;
  checking: boolean;
}

export function heldRequest(headers: HeaderField[], path: string, gate: RequestGate): HeldRequest {
  return {
    copy: [],
    queue: new ByteQueue(),
    received: 0,
    forwarded: 0,
    expected: undefined,
    endStream: false,
    deciding: false,
    headers,
    path,
    gate,
  };
}

export function heldResponse(check: HeldResponse['check']): HeldResponse {
  return { check, blocks: [], data: new ByteQueue(), flowBytes: 0, checking: false };
}

/** Bytes held across every connection of the daemon, against a limit shared by all connections. */
export interface HeldBudget {
  used: number;
  readonly limit: number;
}

/**
 * One connection's account of held bytes, per stream, against the connection's own limit and the
 * daemon-wide budget. Everything counted is given back by `release`/`releaseAll`.
 */
export class HeldAccount {
  private total = 0;
  private readonly byStream = new Map<number, number>();

  constructor(
    private readonly limit: number,
    private readonly budget: HeldBudget,
  ) {}

  /** Bytes this connection holds. */
  get bytes(): number {
    return this.total;
  }

  /** Counts `bytes` more for `streamId`; returns false, counting nothing, if either bound would be passed. */
  tryHold(streamId: number, bytes: number): boolean {
    if (this.total + bytes > this.limit || this.budget.used + bytes > this.budget.limit) return false;
    this.byStream.set(streamId, (this.byStream.get(streamId) ?? 0) + bytes);
    this.total += bytes;
    this.budget.used += bytes;
    return true;
  }

  /** Gives back what `streamId` held. */
  release(streamId: number): void {
    const bytes = this.byStream.get(streamId);
    if (bytes === undefined) return;
    this.byStream.delete(streamId);
    this.total -= bytes;
    this.budget.used -= bytes;
  }

  /** Gives back everything (the connection closed). */
  releaseAll(): void {
    this.budget.used -= this.total;
    this.total = 0;
    this.byStream.clear();
  }

  /** For logs: what is held against which bound. */
  describe(): Record<string, number> {
    return {
      held: this.total,
      limit: this.limit,
      heldTotal: this.budget.used,
      totalLimit: this.budget.limit,
    };
  }
}
