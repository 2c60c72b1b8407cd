import { createHash } from 'node:crypto';
import type { Response } from 'undici';
import { z } from 'zod';
import { isDigest, parseDigest } from '../reference/digest.js';
import { normaliseRepositoryName, parseImageReference } from '../reference/image-reference.js';
import { createAuthenticator } from './auth.js';
import type { AuthScope } from './auth.js';
import { discardBody, readBoundedBody } from './bounded-body.js';
import type { RegistryCredentials } from './credentials.js';
import { RegistryError } from './errors.js';
import { registryEndpoints } from './containerd-hosts.js';
import type { RegistryEndpoint } from './containerd-hosts.js';
import { apiHostOf, createHostRules } from './hosts.js';
import type { RegistryHostSettings } from './hosts.js';
import { MANIFEST_ACCEPT, OCI_INDEX } from './media-types.js';
import { createTokenCache } from './token-cache.js';
import { createTransport, describe } from './transport.js';

/** Caps on what a registry can make criguard read. */
export interface RegistryLimits {
  /** Largest manifest, index or referrers answer (default 4 MiB). */
  readonly maxManifestBytes: number;
  /** Largest blob (default 16 MiB); getBlob may lower it per call. */
  readonly maxBlobBytes: number;
  /** Most referrers accepted in one answer (default 256). */
  readonly maxReferrers: number;
  /** Largest token service answer (default 64 KiB). */
  readonly maxTokenBytes: number;
}

/** Options of createRegistryClient. Validated and frozen once. */
export interface RegistryClientOptions {
  /** Per-registry settings keyed by registry host as written in references (`host[:port]`). */
  readonly hosts?: Readonly<Record<string, RegistryHostSettings>>;
  /** Extra trusted CA certificates (PEM strings; not file paths), in addition to Node's roots. */
  readonly caCertificates?: readonly string[];
  readonly limits?: Partial<RegistryLimits>;
  /** Time allowed for one operation (default 30 s), including auth and redirects. */
  readonly timeoutMs?: number;
  /** Redirects followed per request (default 5). */
  readonly maxRedirects?: number;
  /** Clock for token expiry (default Date.now). */
  readonly now?: () => number;
  readonly userAgent?: string;
  /**
   * containerd's registry host configuration directory (`config_path`, `<host>/hosts.toml`): reads go
   * through the endpoints containerd would use, in its order (mirrors first). Undefined: the registry only.
   */
  readonly registryHostsDir?: string | undefined;
  /**
   * Credentials for an endpoint that is not the registry's own host (a mirror of hosts.toml), looked up
   * for that host only, as containerd keeps auth per host: `image` is `<mirror host>/<repository path>`.
   * The caller's credentials never go to a mirror. Undefined: mirrors are asked anonymously.
   */
  readonly mirrorCredentials?:
    ((image: string, signal: AbortSignal) => Promise<RegistryCredentials | undefined>) | undefined;
}

/** Per-call options: the caller's credentials for this registry host and a cancellation signal. */
export interface RegistryCallOptions {
  /** Used only for the registry host of the repository named in the call (ADR 0040). Never logged. */
  readonly credentials?: RegistryCredentials | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** What a HEAD or resolve learnt about a manifest. */
export interface ManifestDescriptor {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
}

/** A manifest's exact bytes with their verified digest. */
export interface FetchedManifest {
  readonly bytes: Uint8Array;
  readonly digest: string;
  readonly mediaType: string;
}

/** An OCI descriptor as found in an index or a referrers answer. */
export interface OciDescriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string | undefined;
  readonly annotations?: Readonly<Record<string, string>> | undefined;
}

/** The OCI distribution operations criguard needs. Repositories are normalised names (`host/path`). */
export interface RegistryClient {
  /**
   * Resolves a reference (`host/path:tag` or `…@digest`) to its manifest descriptor: HEAD with the four
   * manifest types accepted; when the `Docker-Content-Digest` header is absent or malformed, or when
   * `verifyContent` is set, GETs the manifest and hashes it. A reference with a digest resolves to that
   * digest only if the registry agrees. Throws RegistryError (`CG_ERR_REGISTRY_NOT_FOUND`,
   * `…_UNAVAILABLE`, `…_DENIED`, `…_DIGEST_MISMATCH`, `…_LIMIT`, `…_PROTOCOL`) or InvalidReferenceError.
   */
  resolve(
    ref: string,
    options?: RegistryCallOptions & { verifyContent?: boolean },
  ): Promise<ManifestDescriptor>;
  /** HEAD of a manifest; `digest` is the registry's unverified header, undefined when absent. Errors as resolve. */
  headManifest(
    repository: string,
    reference: string,
    options?: RegistryCallOptions,
  ): Promise<{ digest: string | undefined; mediaType: string; size: number | undefined }>;
  /**
   * GETs a manifest (at most maxManifestBytes) and hashes it. When `reference` is a digest the hash must
   * equal it; for a tag, a `Docker-Content-Digest` header that disagrees with the hash is refused too
   * (`CG_ERR_REGISTRY_DIGEST_MISMATCH`). Other errors as resolve.
   */
  getManifest(repository: string, reference: string, options?: RegistryCallOptions): Promise<FetchedManifest>;
  /** GETs a blob (at most `maxBytes`, default maxBlobBytes) and checks its digest. Errors as getManifest. */
  getBlob(
    repository: string,
    digest: string,
    options?: RegistryCallOptions & { maxBytes?: number },
  ): Promise<Uint8Array>;
  /**
   * Lists referrers of `digest` through the OCI referrers API, filtered by `artifactType` (client-side
   * too). Returns undefined when the registry has no referrers API (404/400/405), else the descriptors
   * (more than maxReferrers → `CG_ERR_REGISTRY_LIMIT`; only the first page is read).
   */
  referrers(
    repository: string,
    digest: string,
    artifactType?: string,
    options?: RegistryCallOptions,
  ): Promise<OciDescriptor[] | undefined>;
  /** Uploads a blob monolithically unless present; returns its sha256 digest. Errors as getManifest. */
  putBlob(repository: string, bytes: Uint8Array, options?: RegistryCallOptions): Promise<string>;
  /** PUTs a manifest under a tag or its digest; returns the sha256 digest of `bytes`. */
  putManifest(
    repository: string,
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
    options?: RegistryCallOptions,
  ): Promise<string>;
  /** Closes pooled connections. */
  close(): Promise<void>;
}

const DEFAULT_LIMITS: RegistryLimits = {
  maxManifestBytes: 4 * 1024 * 1024,
  maxBlobBytes: 16 * 1024 * 1024,
  maxReferrers: 256,
  maxTokenBytes: 64 * 1024,
};

const descriptorSchema = z.object({
  mediaType: z.string().max(256),
  digest: z.string().refine(isDigest),
  size: z.number().int().nonnegative(),
  artifactType: z.string().max(256).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
const indexSchema = z.object({ manifests: z.array(z.unknown()) });

/** One endpoint to send a repository's requests to. */
interface Target {
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

const FAILURE_WORDS: Readonly<Record<string, string>> = {
  CG_ERR_REGISTRY_NOT_FOUND: 'not found',
  CG_ERR_REGISTRY_UNAVAILABLE: 'unreachable',
  CG_ERR_REGISTRY_DENIED: 'denied',
  CG_ERR_REGISTRY_DIGEST_MISMATCH: 'digest mismatch',
};

function schemeOf(e: RegistryEndpoint): string {
  return e.api.startsWith('http:') ? 'http' : 'https';
}

/** `sha256:<hex>` (or the algorithm of `like`) of bytes. */
export function digestOf(bytes: Uint8Array, algorithm: 'sha256' | 'sha512' = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** Most pages of a referrers listing followed (OCI distribution `Link: <…>; rel="next"`). */
const MAX_REFERRER_PAGES = 8;

/** The next page of a paginated listing, on the same origin; undefined when there is none. */
function nextPage(link: string | null, current: URL): URL | undefined {
  const match = link === null ? null : /<([^>]*)>\s*;\s*rel="?next"?/i.exec(link);
  if (!match) return undefined;
  let next: URL;
  try {
    next = new URL(match[1]!, current);
  } catch {
    throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', `referrers: a bad next-page link`);
  }
  if (next.origin !== current.origin) {
    throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', `referrers: the next page is on another origin`);
  }
  return next;
}

/**
 * Creates an OCI distribution client (fetch-based, undici Agent). Plain HTTP only for loopback registries
 * and hosts configured with `plainHttp`; everything else HTTPS with Node's roots plus `caCertificates`.
 * Throws TypeError for invalid options.
 */
export function createRegistryClient(options: RegistryClientOptions = {}): RegistryClient {
  const limits: RegistryLimits = Object.freeze({ ...DEFAULT_LIMITS, ...options.limits });
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isSafeInteger(v) || v <= 0)
      throw new TypeError(`registry limit ${k} must be a positive integer`);
  }
  const timeoutMs = options.timeoutMs ?? 30_000;
  const now = options.now ?? Date.now;
  const configured = createHostRules(options.hosts);
  // Endpoints hosts.toml declares as http:// may be reached over plain HTTP (containerd does).
  const declaredHttp = new Set<string>();
  const rules = {
    ...configured,
    plainHttpAllowed: (host: string) =>
      declaredHttp.has(host.toLowerCase()) || configured.plainHttpAllowed(host),
  };
  const transport = createTransport({
    rules,
    caCertificates: options.caCertificates,
    maxRedirects: options.maxRedirects ?? 5,
    userAgent: options.userAgent ?? 'criguard',
  });
  const auth = createAuthenticator({
    transport,
    rules,
    tokens: createTokenCache(now),
    now,
    maxTokenBytes: limits.maxTokenBytes,
  });

  /** The registry itself, as before mirrors: `registries.<host>.plainHttp` or loopback picks plain HTTP. */
  function upstreamEndpoint(domain: string): RegistryEndpoint {
    const apiHost = apiHostOf(domain);
    const scheme = rules.plainHttpAllowed(apiHost) ? 'http' : 'https';
    const all = { pull: true, resolve: true, push: true };
    return {
      api: `${scheme}://${apiHost}/v2`,
      host: apiHost,
      capabilities: all,
      tls: undefined,
      upstream: true,
    };
  }

  /**
   * Where to send a request for `repository`, in order: containerd's endpoints with the capability
   * (`resolve` adds the resolve capability to pull: a tag), or the registry alone. Throws
   * CG_ERR_REGISTRY_UNAVAILABLE when the configuration leaves no endpoint.
   */
  function targets(
    repository: string,
    actions: AuthScope['actions'],
    call: RegistryCallOptions | undefined,
    need: 'pull' | 'resolve' | 'push' = 'pull',
  ): Target[] {
    const ref = parseImageReference(normaliseRepositoryName(repository));
    let endpoints: RegistryEndpoint[];
    if (options.registryHostsDir === undefined || need === 'push') {
      endpoints = [upstreamEndpoint(ref.domain)];
    } else {
      try {
        endpoints = registryEndpoints(options.registryHostsDir, ref.domain).map((e) =>
          e.upstream && e.api === `${schemeOf(e)}://${e.host}/v2` && e.tls === undefined
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
    const signals = [AbortSignal.timeout(timeoutMs), ...(call?.signal ? [call.signal] : [])];
    const signal = AbortSignal.any(signals);
    const registryHost = apiHostOf(ref.domain).toLowerCase();
    return endpoints.map((e) => {
      const api = new URL(`${e.api}/`);
      if (api.protocol === 'http:') declaredHttp.add(api.host.toLowerCase());
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

  /** The one target of a push (the registry itself). */
  function target(repository: string, actions: AuthScope['actions'], call: RegistryCallOptions | undefined) {
    const [t] = targets(repository, actions, call, 'push');
    if (t === undefined) throw new RegistryError('CG_ERR_REGISTRY_UNAVAILABLE', `${repository}: no endpoint`);
    return t;
  }

  /**
   * Runs `op` against each target in order until one succeeds, as containerd falls back from one host to
   * the next on any failure. With several targets, the final error names every endpoint tried and why.
   */
  async function firstAnswer<T>(
    ts: readonly Target[],
    what: string,
    op: (t: Target) => Promise<T>,
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
  async function withMirrorCredentials(t: Target): Promise<Target> {
    if (!t.mirror || options.mirrorCredentials === undefined) return t;
    let credentials: RegistryCredentials | undefined;
    try {
      credentials = await options.mirrorCredentials(`${t.host}/${t.scope.path}`, t.signal);
    } catch {
      credentials = undefined; // a failed look-up: the mirror is asked anonymously
    }
    return credentials === undefined ? t : { ...t, scope: { ...t.scope, credentials } };
  }

  /** Sends with auth: one retry after answering a 401 challenge; a second 401 is DENIED. */
  async function send(
    t: Target,
    method: 'GET' | 'HEAD' | 'PUT' | 'POST',
    url: URL,
    headers: Record<string, string> = {},
    body?: Uint8Array,
  ): Promise<Response> {
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
  }

  async function headManifest(repository: string, reference: string, call?: RegistryCallOptions) {
    const ts = targets(repository, 'pull', call, isDigest(reference) ? 'pull' : 'resolve');
    return firstAnswer(ts, `manifest ${repository}:${reference}`, (t) => headManifestAt(t, reference));
  }

  async function headManifestAt(t: Target, reference: string) {
    const url = new URL(`manifests/${checkReference(reference)}`, t.base);
    const res = await send(t, 'HEAD', url, { accept: MANIFEST_ACCEPT });
    await discardBody(res);
    await expectOk(res, url);
    const header = res.headers.get('docker-content-digest');
    const length = res.headers.get('content-length');
    return {
      digest: header !== null && isDigest(header) ? header : undefined,
      mediaType: mediaTypeOf(res),
      size: length !== null && /^\d+$/.test(length) ? Number(length) : undefined,
    };
  }

  async function getManifest(
    repository: string,
    reference: string,
    call?: RegistryCallOptions,
  ): Promise<FetchedManifest> {
    const ts = targets(repository, 'pull', call, isDigest(reference) ? 'pull' : 'resolve');
    return firstAnswer(ts, `manifest ${repository}:${reference}`, (t) => getManifestAt(t, reference));
  }

  async function getManifestAt(t: Target, reference: string): Promise<FetchedManifest> {
    const url = new URL(`manifests/${checkReference(reference)}`, t.base);
    const res = await send(t, 'GET', url, { accept: MANIFEST_ACCEPT });
    await expectOk(res, url);
    const bytes = await readBoundedBody(res, limits.maxManifestBytes, `manifest ${describe(url)}`);
    const header = res.headers.get('docker-content-digest');
    const expected = isDigest(reference)
      ? reference
      : header !== null && isDigest(header)
        ? header
        : undefined;
    const algorithm = expected === undefined ? 'sha256' : parseDigest(expected).algorithm;
    const actual = digestOf(bytes, algorithm);
    if (expected !== undefined && actual !== expected) {
      throw new RegistryError(
        'CG_ERR_REGISTRY_DIGEST_MISMATCH',
        `manifest ${describe(url)}: content does not match ${expected}`,
      );
    }
    const mediaType = mediaTypeOf(res) || mediaTypeFromBody(bytes);
    return Object.freeze({ bytes, digest: actual, mediaType });
  }

  async function getBlobAt(
    t: Target,
    d: ReturnType<typeof parseDigest>,
    call: { maxBytes?: number } | undefined,
  ): Promise<Uint8Array> {
    const url = new URL(`blobs/${d.value}`, t.base);
    const res = await send(t, 'GET', url);
    await expectOk(res, url);
    const max = Math.min(call?.maxBytes ?? limits.maxBlobBytes, limits.maxBlobBytes);
    const bytes = await readBoundedBody(res, max, `blob ${describe(url)}`);
    if (digestOf(bytes, d.algorithm) !== d.value) {
      throw new RegistryError(
        'CG_ERR_REGISTRY_DIGEST_MISMATCH',
        `blob ${describe(url)}: content does not match its digest`,
      );
    }
    return bytes;
  }

  async function referrersAt(
    t: Target,
    digest: string,
    artifactType: string | undefined,
  ): Promise<OciDescriptor[] | undefined> {
    let url = new URL(`referrers/${parseDigest(digest).value}`, t.base);
    if (artifactType !== undefined) url.searchParams.set('artifactType', artifactType);
    // The listing is bounded by its byte size per page and by MAX_REFERRER_PAGES; only entries of the
    // wanted type count against maxReferrers, so unrelated referrers (SBOMs, scans) cannot force a deny.
    const out: OciDescriptor[] = [];
    for (let page = 0; ; page++) {
      const res = await send(t, 'GET', url, { accept: OCI_INDEX });
      if (page === 0 && (res.status === 404 || res.status === 400 || res.status === 405)) {
        await discardBody(res);
        return undefined;
      }
      await expectOk(res, url);
      const bytes = await readBoundedBody(res, limits.maxManifestBytes, `referrers ${describe(url)}`);
      const index = indexSchema.safeParse(parseJson(bytes));
      if (!index.success)
        throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', `referrers ${describe(url)}: not an index`);
      for (const entry of index.data.manifests) {
        const d = descriptorSchema.safeParse(entry);
        if (!d.success) {
          if (artifactType === undefined) {
            throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', `referrers ${describe(url)}: bad descriptor`);
          }
          continue;
        }
        if (artifactType === undefined || d.data.artifactType === artifactType)
          out.push(Object.freeze(d.data));
        if (out.length > limits.maxReferrers) {
          throw new RegistryError(
            'CG_ERR_REGISTRY_LIMIT',
            `referrers ${describe(url)}: over ${limits.maxReferrers} entries`,
          );
        }
      }
      const next = nextPage(res.headers.get('link'), url);
      if (next === undefined) return out;
      if (page + 1 >= MAX_REFERRER_PAGES) {
        throw new RegistryError(
          'CG_ERR_REGISTRY_LIMIT',
          `referrers ${describe(url)}: over ${MAX_REFERRER_PAGES} pages`,
        );
      }
      url = next;
    }
  }

  const client: RegistryClient = {
    async resolve(input, call) {
      const ref = parseImageReference(input);
      const reference = ref.digest ?? ref.tag ?? 'latest';
      if (!call?.verifyContent) {
        const head = await headManifest(ref.name, reference, call);
        if (head.digest !== undefined) {
          if (ref.digest !== undefined && head.digest !== ref.digest) {
            throw new RegistryError(
              'CG_ERR_REGISTRY_DIGEST_MISMATCH',
              `${ref.name}: registry answers another digest for ${ref.digest}`,
            );
          }
          if (head.size !== undefined && head.size > limits.maxManifestBytes) {
            throw new RegistryError('CG_ERR_REGISTRY_LIMIT', `${ref.name}: manifest of ${head.size} bytes`);
          }
          return Object.freeze({ digest: head.digest, mediaType: head.mediaType, size: head.size ?? 0 });
        }
      }
      const m = await getManifest(ref.name, reference, call);
      return Object.freeze({ digest: m.digest, mediaType: m.mediaType, size: m.bytes.length });
    },

    headManifest,
    getManifest,

    async getBlob(repository, digest, call) {
      const d = parseDigest(digest);
      return firstAnswer(targets(repository, 'pull', call), `blob ${repository}@${d.value}`, (t) =>
        getBlobAt(t, d, call),
      );
    },

    async referrers(repository, digest, artifactType, call) {
      const ts = targets(repository, 'pull', call);
      // An endpoint without the referrers API (undefined) counts as not having them: try the next.
      let none = false;
      try {
        return await firstAnswer(ts, `referrers ${repository}@${digest}`, async (t) => {
          const found = await referrersAt(t, digest, artifactType);
          if (found === undefined) {
            none = true;
            throw new RegistryError('CG_ERR_REGISTRY_NOT_FOUND', `${t.host}: no referrers API`);
          }
          return found;
        });
      } catch (err) {
        if (none && err instanceof RegistryError && err.code === 'CG_ERR_REGISTRY_NOT_FOUND')
          return undefined;
        throw err;
      }
    },

    async putBlob(repository, bytes, call) {
      const digest = digestOf(bytes);
      const t = target(repository, 'pull,push', call);
      const blobUrl = new URL(`blobs/${digest}`, t.base);
      const head = await send(t, 'HEAD', blobUrl);
      await discardBody(head);
      if (head.status === 200) return digest;
      const startUrl = new URL('blobs/uploads/', t.base);
      const start = await send(t, 'POST', startUrl, { 'content-length': '0' });
      await discardBody(start);
      if (start.status !== 202) await expectStatus(start, startUrl, 202);
      const location = start.headers.get('location');
      let upload: URL;
      try {
        upload = new URL(location ?? '', t.base);
      } catch {
        throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', `upload ${describe(startUrl)}: bad Location`);
      }
      if (location === null)
        throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', `upload ${describe(startUrl)}: no Location`);
      upload.searchParams.set('digest', digest);
      const put = await send(t, 'PUT', upload, { 'content-type': 'application/octet-stream' }, bytes);
      await discardBody(put);
      await expectStatus(put, blobUrl, 201);
      return digest;
    },

    async putManifest(repository, reference, bytes, mediaType, call) {
      if (bytes.length > limits.maxManifestBytes) {
        throw new RegistryError('CG_ERR_REGISTRY_LIMIT', `manifest of ${bytes.length} bytes`);
      }
      const t = target(repository, 'pull,push', call);
      const url = new URL(`manifests/${checkReference(reference)}`, t.base);
      const res = await send(t, 'PUT', url, { 'content-type': mediaType }, bytes);
      await discardBody(res);
      await expectStatus(res, url, 201);
      const digest = digestOf(bytes);
      const header = res.headers.get('docker-content-digest');
      if (header !== null && isDigest(header) && header.startsWith('sha256:') && header !== digest) {
        throw new RegistryError(
          'CG_ERR_REGISTRY_DIGEST_MISMATCH',
          `manifest ${describe(url)}: registry stored another digest`,
        );
      }
      return digest;
    },

    close: () => transport.close(),
  };
  return Object.freeze(client);
}

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** A tag or canonical digest; anything else would change the URL path. */
function checkReference(reference: string): string {
  if (isDigest(reference) || TAG.test(reference)) return reference;
  throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', 'invalid tag or digest');
}

function denied(url: URL, status: number): RegistryError {
  return new RegistryError(
    'CG_ERR_REGISTRY_DENIED',
    `${describe(url)}: HTTP ${status} after authentication`,
    { status },
  );
}

/** Maps a non-2xx status to a RegistryError (after discarding the body). */
async function expectOk(res: Response, url: URL): Promise<void> {
  if (res.status === 200) return;
  await expectStatus(res, url, 200);
}

async function expectStatus(res: Response, url: URL, ok: number): Promise<void> {
  if (res.status === ok) return;
  await discardBody(res);
  const where = `${describe(url)}: HTTP ${res.status}`;
  const status = res.status;
  if (status === 404) throw new RegistryError('CG_ERR_REGISTRY_NOT_FOUND', where, { status });
  if (status === 401 || status === 403) throw new RegistryError('CG_ERR_REGISTRY_DENIED', where, { status });
  if (status === 429 || status >= 500)
    throw new RegistryError('CG_ERR_REGISTRY_UNAVAILABLE', where, { status });
  throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', where, { status });
}

function mediaTypeOf(res: Response): string {
  return (res.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
}

function mediaTypeFromBody(bytes: Uint8Array): string {
  const doc = parseJson(bytes);
  return typeof doc === 'object' &&
    doc !== null &&
    typeof (doc as { mediaType?: unknown }).mediaType === 'string'
    ? (doc as { mediaType: string }).mediaType
    : '';
}

/** JSON.parse of UTF-8 bytes, undefined when they are not JSON. */
export function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
}
