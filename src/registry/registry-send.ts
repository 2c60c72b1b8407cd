import type { Authenticator } from './auth.js';
import { discardBody } from './bounded-body.js';
import type { RegistryTarget } from './registry-targets.js';
import { denied } from './registry-responses.js';
import type { HttpResponse, Transport } from './transport.js';

/** Sends one request to a target, authenticated; the response's body is the caller's to read or discard. */
export type Send = (
  t: RegistryTarget,
  method: 'GET' | 'HEAD' | 'PUT' | 'POST',
  url: URL,
  headers?: Record<string, string>,
  body?: Uint8Array,
) => Promise<HttpResponse>;

/**
 * Sends with auth: one retry after answering a 401 challenge; a second 401 is DENIED. Authorization and the
 * host's configured headers go only to the target's own origin (never along a redirect elsewhere).
 */
export function createSend(transport: Transport, auth: Authenticator): Send {
  return async function send(
    t: RegistryTarget,
    method: 'GET' | 'HEAD' | 'PUT' | 'POST',
    url: URL,
    headers: Record<string, string> = {},
    body?: Uint8Array,
  ): Promise<HttpResponse> {
    let authorization = auth.initial(t.scope);
    for (let attempt = 0; ; attempt++) {
      const res = await transport.send({
        method,
        url,
        headers,
        body,
        authorization: url.origin === t.base.origin ? authorization : undefined,
        hostHeaders: url.origin === t.base.origin ? t.headers : undefined,
        signal: t.signal,
        tls: t.tls,
      });
      if (res.status !== 401) return res;
      await discardBody(res);
      if (attempt > 0) throw denied(url, res.status);
      const next = await auth.answer(t.scope, res.headers.get('www-authenticate'), t.signal);
      if (next === undefined) throw denied(url, res.status);
      authorization = next;
    }
  };
}
