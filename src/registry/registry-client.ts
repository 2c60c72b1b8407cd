import { isDigest, parseDigest } from '../reference/digest.js';
import { parseImageReference } from '../reference/image-reference.js';
import { createAuthenticator } from './auth.js';
import type { RegistryCredentials } from './credentials.js';
import { RegistryError } from './errors.js';
import { createHostRules } from './hosts.js';
import type { RegistryHostSettings } from './hosts.js';
import { registryLimits, type RegistryLimits } from './registry-limits.js';
import {
  createReads,
  type FetchedManifest,
  type ManifestHead,
  type OciDescriptor,
} from './registry-reads.js';
import { createSend } from './registry-send.js';
import { createTargets, type RegistryCallOptions } from './registry-targets.js';
import { putBlobAt, putManifestAt } from './registry-writes.js';
import { createTokenCache } from './token-cache.js';
import { createTransport } from './transport.js';

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

/** What a HEAD or resolve learnt about a manifest. */
export interface ManifestDescriptor {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
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
  headManifest(repository: string, reference: string, options?: RegistryCallOptions): Promise<ManifestHead>;
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

/**
 * Creates an OCI distribution client (fetch-based, undici Agent). Plain HTTP only for loopback registries
 * and hosts configured with `plainHttp`; everything else HTTPS with Node's roots plus `caCertificates`.
 * Which hosts are asked is registry-targets.ts; what is read and how it is checked, registry-reads.ts.
 * Throws TypeError for invalid options.
 */
export function createRegistryClient(options: RegistryClientOptions = {}): RegistryClient {
  const limits = registryLimits(options.limits);
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
  const { targets, target, firstAnswer } = createTargets({
    registryHostsDir: options.registryHostsDir,
    timeoutMs,
    plainHttpAllowed: rules.plainHttpAllowed,
    declaredHttp: (host) => declaredHttp.add(host),
    mirrorCredentials: options.mirrorCredentials,
  });
  const send = createSend(transport, auth);
  const reads = createReads(send, limits);

  async function headManifest(
    repository: string,
    reference: string,
    call?: RegistryCallOptions,
  ): Promise<ManifestHead> {
    const ts = targets(repository, 'pull', call, isDigest(reference) ? 'pull' : 'resolve');
    return firstAnswer(ts, `manifest ${repository}:${reference}`, (t) => reads.headManifestAt(t, reference));
  }

  async function getManifest(
    repository: string,
    reference: string,
    call?: RegistryCallOptions,
  ): Promise<FetchedManifest> {
    const ts = targets(repository, 'pull', call, isDigest(reference) ? 'pull' : 'resolve');
    return firstAnswer(ts, `manifest ${repository}:${reference}`, (t) => reads.getManifestAt(t, reference));
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
        reads.getBlobAt(t, d, call),
      );
    },

    async referrers(repository, digest, artifactType, call) {
      const ts = targets(repository, 'pull', call);
      // An endpoint without the referrers API (undefined) counts as not having them: try the next.
      let none = false;
      try {
        return await firstAnswer(ts, `referrers ${repository}@${digest}`, async (t) => {
          const found = await reads.referrersAt(t, digest, artifactType);
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
      return putBlobAt(send, target(repository, 'pull,push', call), bytes);
    },

    async putManifest(repository, reference, bytes, mediaType, call) {
      if (bytes.length > limits.maxManifestBytes) {
        throw new RegistryError('CG_ERR_REGISTRY_LIMIT', `manifest of ${bytes.length} bytes`);
      }
      return putManifestAt(send, target(repository, 'pull,push', call), reference, bytes, mediaType);
    },

    close: () => transport.close(),
  };
  return Object.freeze(client);
}
