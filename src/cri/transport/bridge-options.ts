import type { Socket } from 'node:net';
import type { Route } from './contract.js';
import type { HeldBudget } from './held-calls.js';

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
