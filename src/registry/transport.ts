import { rootCertificates } from 'node:tls';
import type { Agent, request as undiciRequest } from 'undici';
import { registryTurns } from '../scheduling/loop-turns.js';
import { RegistryError } from './errors.js';
import type { EndpointTls } from './containerd-hosts.js';
import type { HostRules } from './hosts.js';

/** One HTTP request of the registry client. */
export interface HttpRequest {
  readonly method: 'GET' | 'HEAD' | 'PUT' | 'POST';
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array;
  /** Sent only to `url`'s origin: dropped when a redirect leaves it. */
  readonly authorization?: string | undefined;
  /** The endpoint's configured headers (hosts.toml `header`): sent only to `url`'s origin, like authorization. */
  readonly hostHeaders?: Readonly<Record<string, string>> | undefined;
  readonly signal: AbortSignal;
  /** TLS settings of the endpoint (containerd's hosts.toml `ca`, `client`, `skip_verify`), if any. */
  readonly tls?: EndpointTls | undefined;
}

/** A response body: read it in chunks, or cancel it (which closes the connection). */
export interface ResponseBody extends AsyncIterable<Uint8Array> {
  cancel(): Promise<void>;
}

/** One HTTP response of the registry client (header names are case-insensitive). */
export interface HttpResponse {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  readonly body: ResponseBody;
}

/** Sends requests with bounded redirects; maps network failures to RegistryError. */
export interface Transport {
  send(req: HttpRequest): Promise<HttpResponse>;
  close(): Promise<void>;
}

/** Options of createTransport. */
export interface TransportOptions {
  readonly rules: HostRules;
  /** Extra trusted CA certificates (PEM), added to Node's bundled roots. */
  readonly caCertificates?: readonly string[];
  readonly maxRedirects: number;
  readonly userAgent: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Creates the HTTP layer: one undici Agent (own connection pool; extra CAs when given), redirects followed
 * by hand for GET/HEAD (at most `maxRedirects`, never downgrading to plain HTTP for a host that needs
 * TLS, `Authorization` never forwarded to another origin). `send` throws RegistryError
 * `CG_ERR_REGISTRY_UNAVAILABLE` (network, TLS, abort, timeout), `CG_ERR_REGISTRY_LIMIT` (too many
 * redirects) or `CG_ERR_REGISTRY_PROTOCOL` (bad redirect); any HTTP status is returned as a Response.
 */
export function createTransport(options: TransportOptions): Transport {
  const ca = options.caCertificates?.length ? [...rootCertificates, ...options.caCertificates] : undefined;
  // undici is loaded on the first request: a node that never calls a registry does not pay its memory.
  // `request`, not `fetch`: the same pool without WHATWG streams and Headers objects (about half the
  // CPU per registry request in a first pull's profile).
  let client: Promise<{ agent: Agent; request: typeof undiciRequest }> | undefined;
  const connect = () =>
    (client ??= import('undici').then((undici) => ({
      agent: new undici.Agent({ connect: ca === undefined ? {} : { ca }, connections: 16 }),
      request: undici.request,
    })));
  // One agent per distinct endpoint TLS setting (few: one per configured mirror at most).
  const tlsAgents = new Map<string, Promise<Agent>>();
  const agentFor = async (
    tls: EndpointTls | undefined,
  ): Promise<{ agent: Agent; request: typeof undiciRequest }> => {
    const base = await connect();
    if (tls === undefined) return base;
    const key = JSON.stringify(tls);
    let agent = tlsAgents.get(key);
    if (agent === undefined) {
      if (tlsAgents.size >= 64) throw new RegistryError('CG_ERR_REGISTRY_LIMIT', 'too many TLS settings');
      agent = import('undici').then(
        (undici) =>
          new undici.Agent({
            connect: {
              ...(tls.ca !== undefined || ca !== undefined
                ? { ca: [...(ca ?? rootCertificates), ...(tls.ca ?? [])] }
                : {}),
              ...(tls.cert !== undefined ? { cert: tls.cert, key: tls.key ?? tls.cert } : {}),
              ...(tls.skipVerify === true ? { rejectUnauthorized: false } : {}),
            },
            connections: 16,
          }),
      );
      tlsAgents.set(key, agent);
    }
    return { agent: await agent, request: base.request };
  };
  return {
    async send(req) {
      let url = req.url;
      let authorization = req.authorization;
      const origin = req.url.origin;
      for (let hop = 0; ; hop++) {
        checkScheme(url, options.rules);
        const sameOrigin = url.origin === origin;
        const headers: Record<string, string> = {
          ...(sameOrigin ? req.hostHeaders : undefined),
          'user-agent': options.userAgent,
          ...req.headers,
        };
        if (authorization !== undefined && sameOrigin) headers.authorization = authorization;
        let res: HttpResponse;
        try {
          const { agent, request } = await agentFor(req.tls);
          // undici's request follows no redirects (they are followed here, by hand).
          res = toResponse(
            await request(url, {
              method: req.method,
              headers,
              body: req.body,
              signal: req.signal,
              dispatcher: agent,
            }),
          );
        } catch (err) {
          throw new RegistryError(
            'CG_ERR_REGISTRY_UNAVAILABLE',
            `${req.method} ${describe(url)}: ${reason(err)}`,
            {
              cause: err,
            },
          );
        }
        if (!REDIRECTS.has(res.status) || (req.method !== 'GET' && req.method !== 'HEAD')) {
          // The answer's handling runs in a turn of its own, after the CRI frames that arrived meanwhile.
          await registryTurns.next();
          return res;
        }
        await res.body.cancel();
        if (hop >= options.maxRedirects) {
          throw new RegistryError(
            'CG_ERR_REGISTRY_LIMIT',
            `${describe(req.url)}: more than ${options.maxRedirects} redirects`,
          );
        }
        const location = res.headers.get('location');
        let next: URL;
        try {
          next = new URL(location ?? '', url);
        } catch {
          throw new RegistryError(
            'CG_ERR_REGISTRY_PROTOCOL',
            `${describe(url)}: redirect without a valid Location`,
          );
        }
        if (location === null)
          throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', `${describe(url)}: redirect without Location`);
        if (req.url.protocol === 'https:' && next.protocol !== 'https:') {
          // Never downgrade: an HTTPS registry must not send criguard to plain HTTP (loopback included).
          throw new RegistryError(
            'CG_ERR_REGISTRY_PROTOCOL',
            `${describe(url)}: redirect from HTTPS to ${next.protocol}`,
          );
        }
        if (next.origin !== origin) authorization = undefined;
        url = next;
      }
    },
    close: async () => {
      if (client) await (await client).agent.close();
      for (const agent of tlsAgents.values()) await (await agent).close();
    },
  };
}

function checkScheme(url: URL, rules: HostRules): void {
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && rules.plainHttpAllowed(url.host)) return;
  throw new RegistryError(
    'CG_ERR_REGISTRY_PROTOCOL',
    `${describe(url)}: plain HTTP or unknown scheme not allowed`,
  );
}

/** `host/path` of a URL without query or credentials, for messages. */
export function describe(url: URL): string {
  return `${url.host}${url.pathname}`;
}

/** The response of undici's `request` as an HttpResponse. */
function toResponse(r: Awaited<ReturnType<typeof undiciRequest>>): HttpResponse {
  const { body } = r;
  // A body nobody reads to its end may fail or be cancelled (undici then emits AbortError): a reader sees
  // that through its iterator; without one it must not become an uncaught exception.
  body.on('error', () => undefined);
  return {
    status: r.statusCode,
    headers: {
      get(name) {
        const value = r.headers[name.toLowerCase()];
        if (value === undefined) return null;
        return Array.isArray(value) ? value.join(', ') : value;
      },
    },
    body: {
      [Symbol.asyncIterator]: () => body[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>,
      cancel: async () => {
        body.destroy();
      },
    },
  };
}

function reason(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'AbortError' || err.name === 'TimeoutError') return 'aborted or timed out';
    const code = (err as { code?: unknown }).code;
    if (code === 'UND_ERR_ABORTED') return 'aborted or timed out';
    if (typeof code === 'string' && !code.startsWith('UND_ERR_')) return code;
    const cause = (err as { cause?: { code?: unknown } }).cause;
    if (cause && typeof cause.code === 'string') return cause.code;
    if (typeof code === 'string') return code;
    return err.name;
  }
  return 'request failed';
}
