import type { RequestGate, Route } from './transport/contract.js';
import { criMethods, splitMethodPath } from './methods.js';
import { GrpcCode } from './transport/grpc-wire.js';

export type { Route } from './transport/contract.js';

/** The RPCs whose requests are held for a decision. Everything else is forwarded untouched. */
export interface Gates {
  readonly pullImage: RequestGate;
  readonly createContainer: RequestGate;
}

const GATED_METHODS = new Set(['PullImage', 'CreateContainer']);
const PASS_UNARY: Route = Object.freeze({ kind: 'pass', serverStreaming: false });
const PASS_STREAMING: Route = Object.freeze({ kind: 'pass', serverStreaming: true });

/**
 * Builds the routing function of the proxy:
 * - `runtime.v1` PullImage and CreateContainer → their gates;
 * - any other `runtime.v1` path → forwarded (unknown v1 methods too: containerd answers UNIMPLEMENTED);
 * - `runtime.v1alpha2` → forwarded, except its PullImage/CreateContainer, refused (PERMISSION_DENIED):
 *   the kubelet (1.26+) speaks only v1, and an ungated v1alpha2 would bypass enforcement;
 * - any other service (containerd's own API, reflection, …) → refused with UNIMPLEMENTED: the kubelet's
 *   socket carries the CRI only.
 */
export function createRouter(gates: Gates): (path: string) => Route {
  const byPath = new Map<string, Route>();
  for (const method of criMethods.values()) {
    byPath.set(method.path, method.serverStreaming ? PASS_STREAMING : PASS_UNARY);
  }
  byPath.set('/runtime.v1.ImageService/PullImage', { kind: 'gate', gate: gates.pullImage });
  byPath.set('/runtime.v1.RuntimeService/CreateContainer', { kind: 'gate', gate: gates.createContainer });

  return (path) => {
    const known = byPath.get(path);
    if (known) return known;
    const split = splitMethodPath(path);
    const service = split?.service ?? '';
    if (service.startsWith('runtime.v1.')) {
      if (split && GATED_METHODS.has(split.method)) {
        return {
          kind: 'reject',
          code: GrpcCode.PERMISSION_DENIED,
          message: `criguard: ${path} is not allowed`,
        };
      }
      return PASS_UNARY;
    }
    if (service.startsWith('runtime.v1alpha2.')) {
      if (split && GATED_METHODS.has(split.method)) {
        return {
          kind: 'reject',
          code: GrpcCode.PERMISSION_DENIED,
          message: `criguard: ${split.method} is only served through runtime.v1`,
        };
      }
      return PASS_UNARY;
    }
    return {
      kind: 'reject',
      code: GrpcCode.UNIMPLEMENTED,
      message: `criguard: service ${JSON.stringify(service).slice(0, 200)} is not proxied (CRI only)`,
    };
  };
}
