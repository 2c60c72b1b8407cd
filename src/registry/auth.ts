import { createHash } from 'node:crypto';
import { readBoundedBody, discardBody } from './bounded-body.js';
import type { RegistryCredentials } from './credentials.js';
import { toBasicAuthorization, toUserPassword } from './credentials.js';
import { RegistryError } from './errors.js';
import type { HostRules } from './hosts.js';
import type { TokenCache } from './token-cache.js';
import { describe } from './transport.js';
import type { Transport } from './transport.js';
import { parseWwwAuthenticate } from './www-authenticate.js';

/** Who is asking what of which repository. */
export interface AuthScope {
  /** Registry domain as in image references (`docker.io`, `127.0.0.1:5000`). */
  readonly domain: string;
  /** The registry API host the requests go to. */
  readonly apiHost: string;
  /** Repository path below the domain. */
  readonly path: string;
  readonly actions: 'pull' | 'pull,push';
  readonly credentials: RegistryCredentials | undefined;
}

/** Dependencies of the authenticator. */
export interface AuthenticatorOptions {
  readonly transport: Transport;
  readonly rules: HostRules;
  readonly tokens: TokenCache;
  readonly now: () => number;
  readonly maxTokenBytes: number;
}

/** Turns registry challenges into `Authorization` values; caches bearer tokens per (host, scope, credentials). */
export interface Authenticator {
  /** The Authorization to send first: a registry token, a cached bearer token or Basic for a Basic host. */
  initial(scope: AuthScope): string | undefined;
  /**
   * Answers a 401's `WWW-Authenticate` header. Returns the Authorization to retry with, or undefined when
   * no challenge can be answered. Throws RegistryError (`CG_ERR_REGISTRY_DENIED` when the token service
   * refuses, `CG_ERR_REGISTRY_UNAVAILABLE`, `CG_ERR_REGISTRY_PROTOCOL`, `CG_ERR_REGISTRY_LIMIT`).
   */
  answer(scope: AuthScope, header: string | null, signal: AbortSignal): Promise<string | undefined>;
}

const DEFAULT_TOKEN_SECONDS = 60;
const SKEW_MS = 5_000;

/** Creates an authenticator (see ADR 0040 for where credentials may go). */
export function createAuthenticator(o: AuthenticatorOptions): Authenticator {
  const basicHosts = new Set<string>();
  return {
    initial(scope) {
      if (scope.credentials?.registryToken) return `Bearer ${scope.credentials.registryToken}`;
      const cached = o.tokens.get(cacheKey(scope));
      if (cached !== undefined) return `Bearer ${cached}`;
      if (basicHosts.has(scope.apiHost)) return toBasicAuthorization(scope.credentials);
      return undefined;
    },
    async answer(scope, header, signal) {
      if (scope.credentials?.registryToken) return undefined;
      const challenges = parseWwwAuthenticate(header);
      const bearer = challenges.find((c) => c.scheme === 'bearer');
      if (bearer !== undefined && bearer.params.realm) {
        const token = await fetchToken(o, scope, bearer.params.realm, bearer.params.service, signal);
        return `Bearer ${token}`;
      }
      if (challenges.some((c) => c.scheme === 'basic')) {
        basicHosts.add(scope.apiHost);
        return toBasicAuthorization(scope.credentials);
      }
      return undefined;
    },
  };
}

function cacheKey(scope: AuthScope): string {
  const c = scope.credentials;
  const who =
    c === undefined
      ? 'anonymous'
      : createHash('sha256')
          .update(JSON.stringify([toUserPassword(c), c.identityToken ?? '']))
          .digest('hex');
  return `${scope.apiHost}\n${scope.path}\n${scope.actions}\n${who}`;
}

async function fetchToken(
  o: AuthenticatorOptions,
  scope: AuthScope,
  realm: string,
  service: string | undefined,
  signal: AbortSignal,
): Promise<string> {
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', `${scope.apiHost}: token realm is not a URL`);
  }
  if (url.username || url.password || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', `${scope.apiHost}: unusable token realm`);
  }
  const scopeValue = `repository:${scope.path}:${scope.actions}`;
  // SECURITY: the realm is chosen by the registry; credentials go only to the registry's own host or to
  // realm hosts the operator configured for this registry (ADR 0040). Otherwise ask anonymously.
  const trusted = o.rules.mayReceiveCredentials(scope.domain, url.host);
  const creds = trusted ? scope.credentials : undefined;
  const started = o.now();
  let res;
  if (creds?.identityToken) {
    const form = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: creds.identityToken,
      client_id: 'criguard',
      scope: scopeValue,
      ...(service ? { service } : {}),
    });
    res = await o.transport.send({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new TextEncoder().encode(form.toString()),
      signal,
    });
  } else {
    if (service) url.searchParams.set('service', service);
    url.searchParams.set('scope', scopeValue);
    res = await o.transport.send({ method: 'GET', url, authorization: toBasicAuthorization(creds), signal });
  }
  const where = `token service ${describe(url)}`;
  if (res.status === 401 || res.status === 403) {
    await discardBody(res);
    throw new RegistryError('CG_ERR_REGISTRY_DENIED', `${where}: HTTP ${res.status}`, { status: res.status });
  }
  if (res.status === 429 || res.status >= 500) {
    await discardBody(res);
    throw new RegistryError('CG_ERR_REGISTRY_UNAVAILABLE', `${where}: HTTP ${res.status}`, {
      status: res.status,
    });
  }
  if (res.status !== 200) {
    await discardBody(res);
    throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', `${where}: HTTP ${res.status}`, {
      status: res.status,
    });
  }
  const body = await readBoundedBody(res, o.maxTokenBytes, where);
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', `${where}: answer is not JSON`);
  }
  const d = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  const token = typeof d.token === 'string' && d.token ? d.token : d.access_token;
  if (typeof token !== 'string' || token.length === 0 || !/^[\x21-\x7e]+$/.test(token)) {
    throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', `${where}: no usable token`);
  }
  const seconds =
    typeof d.expires_in === 'number' && Number.isFinite(d.expires_in) && d.expires_in > 0
      ? d.expires_in
      : DEFAULT_TOKEN_SECONDS;
  o.tokens.set(cacheKey(scope), token, started + Math.max(0, seconds * 1000 - SKEW_MS));
  return token;
}
