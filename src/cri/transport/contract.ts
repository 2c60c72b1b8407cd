/**
 * The transport's contract with the layers above it: how a call is routed (passed, gated, refused) and
 * what a gate answers. The transport depends on nothing else in criguard; gates and routing implement
 * these types (src/cri/gates/, src/cri/routes.ts).
 */
import type { HeaderField } from './hpack-codec.js';

/** A refusal, answered to the client by criguard on the call's own stream. */
export interface Rejection {
  /** gRPC status code (see grpc-wire.ts GrpcCode). */
  readonly code: number;
  /** The status message the client sees; short, no secrets. */
  readonly message: string;
}

/** What a gate decided about a request. */
export type GateDecision =
  | {
      readonly action: 'forward';
      /**
       * Optional: hold the upstream's successful response until this check resolves. `undefined` releases
       * it unchanged; a Rejection replaces it. A check that throws is treated as a rejection (fail closed).
       */
      readonly checkResponse?: (response: Buffer, signal: AbortSignal) => Promise<Rejection | undefined>;
    }
  | ({ readonly action: 'reject' } & Rejection);

/** What a gate is told about the call besides the request message. */
export interface GateContext {
  /** The gRPC method path, e.g. `/runtime.v1.ImageService/PullImage`. */
  readonly path: string;
  /** The request's header fields (metadata) as the client sent them. */
  readonly headers: readonly HeaderField[];
  /** Aborted when the client cancels the call or the connection closes. */
  readonly signal: AbortSignal;
}

/**
 * An interception point for one RPC. Receives a copy of the decoded-from-the-wire request message bytes
 * (the original bytes are what gets forwarded). Must resolve; a rejection of the promise is a refusal.
 */
export type RequestGate = (request: Buffer, context: GateContext) => Promise<GateDecision>;

/** How the proxy treats one call, decided from its `:path` when its HEADERS arrive. */
export type Route =
  | { readonly kind: 'pass'; readonly serverStreaming: boolean }
  | { readonly kind: 'gate'; readonly gate: RequestGate }
  | { readonly kind: 'reject'; readonly code: number; readonly message: string };
