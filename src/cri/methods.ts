import { runtimeV1Descriptor } from './generated/runtime-v1.js';

/** One RPC of criguard's CRI proto. */
export interface CriMethod {
  /** `/runtime.v1.<Service>/<Method>` */
  readonly path: string;
  readonly service: 'RuntimeService' | 'ImageService';
  readonly name: string;
  readonly requestType: string;
  readonly responseType: string;
  readonly serverStreaming: boolean;
}

interface MethodJson {
  requestType: string;
  responseType: string;
  responseStream?: boolean;
  requestStream?: boolean;
}

/** Every RPC in proto/runtime/v1/api.proto, keyed by path. */
export const criMethods: ReadonlyMap<string, CriMethod> = (() => {
  const v1 = runtimeV1Descriptor.nested.runtime.nested.v1.nested;
  const map = new Map<string, CriMethod>();
  for (const service of ['RuntimeService', 'ImageService'] as const) {
    const methods = v1[service].methods as Record<string, MethodJson>;
    for (const [name, m] of Object.entries(methods)) {
      const path = `/runtime.v1.${service}/${name}`;
      map.set(path, {
        path,
        service,
        name,
        requestType: m.requestType,
        responseType: m.responseType,
        serverStreaming: m.responseStream === true,
      });
    }
  }
  return map;
})();

/**
 * Splits a gRPC `:path` the way grpc-go's server does (one leading `/` dropped, split at the last `/`).
 * Returns undefined when it has no `/` separator.
 */
export function splitMethodPath(path: string): { service: string; method: string } | undefined {
  const trimmed = path.startsWith('/') ? path.slice(1) : path;
  const at = trimmed.lastIndexOf('/');
  if (at <= 0) return undefined;
  return { service: trimmed.slice(0, at), method: trimmed.slice(at + 1) };
}
