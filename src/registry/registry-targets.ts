import { normaliseRepositoryName, parseImageReference } from '../reference/image-reference.js';
import type { AuthScope } from './auth.js';
import type { RegistryCredentials } from './credentials.js';
import { RegistryError } from './errors.js';
import { registryEndpoints } from './containerd-hosts.js';
import type { RegistryEndpoint } from './containerd-hosts.js';
import { apiHostOf } from './hosts.js';

/** Per-call options: the caller's credentials for this registry host and a cancellation signal. */
export interface RegistryCallOptions {
  /** Used only for the registry host of the repository named in the call (ADR 0040). Never logged. */
  readonly credentials?: RegistryCredentials | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** One endpoint to send a repository's requests to. */
export interface RegistryTarget {
  readonly scope: AuthScope;
  readonly base: URL;
  readonly signal: AbortSignal;
  readonly repo: string;
  readonly tls: RegistryEndpoint['tls'];
  readonly host: string;
  readonly headers: RegistryEndpoint['headers'];
  /** Another host than the registry's own: its credentials come from `mirrorCredentials`. */
  readonly mirror: boolean;
}

export interface RegistryTargetOptions {
  /** containerd's `config_path` (`<host>/hosts.toml`); undefined: the registry only. */
  readonly registryHostsDir: string | undefined;
  /** Time allowed for one operation; every target's signal carries it. */
  readonly timeoutMs: number;
  /** Whether a host may be reached over plain HTTP (loopback, `plainHttp`, or declared http:// below). */
  readonly plainHttpAllowed: (host: string) => boolean;
  /** Told of every endpoint hosts.toml declares as http:// (containerd reaches those over plain HTTP). */
  readonly declaredHttp: (host: string) => void;
  /** A mirror's own credentials (`<mirror host>/<repository path>`); undefined: mirrors are anonymous. */
  readonly mirrorCredentials:
    ((image: string, signal: AbortSignal) => Promise<RegistryCredentials | undefined>) | undefined;
  /** Clock in ms for the hosts.toml memo (default `performance.now`). */
  readonly now?: () => number;
}

/**
 * How long a registry's endpoints, as read from hosts.toml, are reused (ms). Reading them costs up to three
 * synchronous stat calls and a file read on the event loop; a storm of new digests made four look-ups per
 * image (manifest, signature tag, referrers, blob), hundreds a second, each delaying every CRI call behind
 * it (docs/adr/0009). A change to hosts.toml applies within this time (before: at the next look-up).
 */
export const HOSTS_MEMO_MS = 1_000;
/** Registries whose endpoints are remembered at once; the memo is emptied when it is full. */
const HOSTS_MEMO_ENTRIES = 256;

/** Which hosts to ask for a repository, and asking them in turn. */
export interface RegistryTargets {
  /**
   * Where to send a request for `repository`, in order: containerd's endpoints with the capability
   * (`resolve` adds the resolve capability to pull: a tag), or the registry alone. Throws
   * CG_ERR_REGISTRY_UNAVAILABLE when the configuration leaves no endpoint.
   */
  targets(
    repository: string,
    actions: AuthScope['actions'],
    call: RegistryCallOptions | undefined,
    need?: 'pull' | 'resolve' | 'push',
  ): RegistryTarget[];
  /** The one target of a push (the registry itself). */
  target(
    repository: string,
    actions: AuthScope['actions'],
    call: RegistryCallOptions | undefined,
  ): RegistryTarget;
  /**
   * Runs `op` against each target in order until one succeeds, as containerd falls back from one host to
   * the next on any failure. With several targets, the final error names every endpoint tried and why.
   */
  firstAnswer<T>(
    ts: readonly RegistryTarget[],
    what: string,
    op: (t: RegistryTarget) => Promise<T>,
  ): Promise<T>;
}

const FAILURE_WORDS: Readonly<Record<string, string>> = {
  CG_ERR_REGISTRY_NOT_FOUND: 'not found',
  CG_ERR_REGISTRY_UNAVAILABLE: 'unreachable',
  CG_ERR_REGISTRY_DENIED: 'denied',
  CG_ERR_REGISTRY_DIGEST_MISMATCH: 'digest mismatch',
};

function schemeOf(e: RegistryEndpoint): string {
  return e.api.startsWith('http:') ? 'http' : 'https';
}

/** The targets of a client: the registry itself, or containerd's endpoints for it (mirrors first). */
export function createTargets(options: RegistryTargetOptions): RegistryTargets {
  const clock = options.now ?? (() => performance.now());
  // Only answers are remembered: an invalid or unreadable file is read (and refused) at every look-up.
  const hostsMemo = new Map<
    string,
    { readonly at: number; readonly endpoints: readonly RegistryEndpoint[] }
  >();
  function endpointsOf(dir: string, domain: string): readonly RegistryEndpoint[] {
    const t = clock();
    const memo = hostsMemo.get(domain);
    if (memo !== undefined && t - memo.at < HOSTS_MEMO_MS && t >= memo.at) return memo.endpoints;
    const endpoints = registryEndpoints(dir, domain);
    if (hostsMemo.size >= HOSTS_MEMO_ENTRIES) hostsMemo.clear();
    hostsMemo.set(domain, { at: t, endpoints });
    return endpoints;
  }

  /** The registry itself, as before mirrors: `registries.<host>.plainHttp` or loopback picks plain HTTP. */
  function upstreamEndpoint(domain: string): RegistryEndpoint {
    const apiHost = apiHostOf(domain);
    const scheme = options.plainHttpAllowed(apiHost) ? 'http' : 'https';
    const all = { pull: true, resolve: true, push: true };
    return {
      api: `${scheme}://${apiHost}/v2`,
      host: apiHost,
      capabilities: all,
      tls: undefined,
      upstream: true,
    };
  }

  function targets(
    repository: string,
    actions: AuthScope['actions'],
    call: RegistryCallOptions | undefined,
    need: 'pull' | 'resolve' | 'push' = 'pull',
  ): RegistryTarget[] {
    const ref = parseImageReference(normaliseRepositoryName(repository));
    let endpoints: RegistryEndpoint[];
    if (options.registryHostsDir === undefined || need === 'push') {
      endpoints = [upstreamEndpoint(ref.domain)];
    } else {
      try {
        // The registry's own default endpoint keeps the registry's own rules; a `server` naming another
        // host (containerd then sends everything there) is used as written.
        endpoints = endpointsOf(options.registryHostsDir, ref.domain).map((e) =>
          e.upstream &&
          e.api === `${schemeOf(e)}://${e.host}/v2` &&
          e.tls === undefined &&
          e.host.toLowerCase() === apiHostOf(ref.domain).toLowerCase()
            ? { ...upstreamEndpoint(ref.domain), capabilities: e.capabilities, headers: e.headers }
            : e,
        );
      } catch (err) {
        throw new RegistryError('CG_ERR_REGISTRY_UNAVAILABLE', (err as Error).message, { cause: err });
      }
      endpoints = endpoints.filter((e) =>
        need === 'resolve' ? e.capabilities.pull && e.capabilities.resolve : e.capabilities.pull,
      );
      if (endpoints.length === 0) {
        throw new RegistryError('CG_ERR_REGISTRY_UNAVAILABLE', `${ref.domain}: no endpoint may ${need}`);
      }
    }
    const signals = [AbortSignal.timeout(options.timeoutMs), ...(call?.signal ? [call.signal] : [])];
    const signal = AbortSignal.any(signals);
    const registryHost = apiHostOf(ref.domain).toLowerCase();
    return endpoints.map((e) => {
      const api = new URL(`${e.api}/`);
      if (api.protocol === 'http:') options.declaredHttp(api.host.toLowerCase());
      // The caller's credentials belong to the registry: a mirror (another host) never receives them. A
      // mirror's own (mirrorCredentials) are looked up when it is tried; token realms are judged against
      // the mirror's host, not the registry's.
      const own = api.host.toLowerCase() === registryHost;
      const scope: AuthScope = {
        domain: own ? ref.domain : api.host,
        apiHost: api.host,
        path: ref.path,
        actions,
        credentials: own ? call?.credentials : undefined,
      };
      const base = new URL(`${ref.path}/`, api);
      return {
        scope,
        base,
        signal,
        repo: ref.name,
        tls: e.tls,
        host: api.host,
        headers: e.headers,
        mirror: !own,
      };
    });
  }

  function target(repository: string, actions: AuthScope['actions'], call: RegistryCallOptions | undefined) {
    const [t] = targets(repository, actions, call, 'push');
    if (t === undefined) throw new RegistryError('CG_ERR_REGISTRY_UNAVAILABLE', `${repository}: no endpoint`);
    return t;
  }

  async function firstAnswer<T>(
    ts: readonly RegistryTarget[],
    what: string,
    op: (t: RegistryTarget) => Promise<T>,
  ): Promise<T> {
    const failures: { host: string; err: RegistryError }[] = [];
    for (const t of ts) {
      try {
        return await op(await withMirrorCredentials(t));
      } catch (err) {
        if (!(err instanceof RegistryError) || ts.length === 1) throw err;
        failures.push({ host: t.host, err });
      }
    }
    const codes = failures.map((f) => f.err.code);
    const code = codes.every((c) => c === 'CG_ERR_REGISTRY_NOT_FOUND')
      ? 'CG_ERR_REGISTRY_NOT_FOUND'
      : codes.includes('CG_ERR_REGISTRY_UNAVAILABLE')
        ? 'CG_ERR_REGISTRY_UNAVAILABLE'
        : (codes.at(-1) ?? 'CG_ERR_REGISTRY_UNAVAILABLE');
    const tried = failures.map((f) => `${f.host} (${FAILURE_WORDS[f.err.code] ?? f.err.code})`).join(', ');
    throw new RegistryError(code, `${what}: no endpoint answered; tried ${tried}`);
  }

  /** A mirror's target with the node's credentials for the mirror's host, if any. */
  async function withMirrorCredentials(t: RegistryTarget): Promise<RegistryTarget> {
    if (!t.mirror || options.mirrorCredentials === undefined) return t;
    let credentials: RegistryCredentials | undefined;
    try {
      credentials = await options.mirrorCredentials(`${t.host}/${t.scope.path}`, t.signal);
    } catch {
      credentials = undefined; // a failed look-up: the mirror is asked anonymously
    }
    return credentials === undefined ? t : { ...t, scope: { ...t.scope, credentials } };
  }

  return { targets, target, firstAnswer };
}
