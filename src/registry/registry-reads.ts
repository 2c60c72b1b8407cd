import { z } from 'zod';
import { isDigest, parseDigest } from '../reference/digest.js';
import { discardBody, readBoundedBody } from './bounded-body.js';
import { RegistryError } from './errors.js';
import { MANIFEST_ACCEPT, OCI_INDEX } from './media-types.js';
import type { RegistryLimits } from './registry-limits.js';
import {
  checkReference,
  digestOf,
  expectOk,
  mediaTypeFromBody,
  mediaTypeOf,
  parseJson,
} from './registry-responses.js';
import type { Send } from './registry-send.js';
import type { RegistryTarget } from './registry-targets.js';
import { describe } from './transport.js';

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

/** What a HEAD of a manifest learnt; `digest` is the registry's unverified header (undefined when absent). */
export interface ManifestHead {
  readonly digest: string | undefined;
  readonly mediaType: string;
  readonly size: number | undefined;
}

/**
 * Reads from one target, each bounded by `limits` and checked against its digest. Errors are RegistryErrors
 * (status mapping: registry-responses.ts).
 */
export interface RegistryReads {
  headManifestAt(t: RegistryTarget, reference: string): Promise<ManifestHead>;
  /** The hash must equal a digest `reference`, or else a well-formed `Docker-Content-Digest` header. */
  getManifestAt(t: RegistryTarget, reference: string): Promise<FetchedManifest>;
  /** At most `maxBytes` (never more than maxBlobBytes). */
  getBlobAt(
    t: RegistryTarget,
    d: ReturnType<typeof parseDigest>,
    call: { maxBytes?: number } | undefined,
  ): Promise<Uint8Array>;
  /** Undefined when the target has no referrers API (404/400/405 on the first page). */
  referrersAt(
    t: RegistryTarget,
    digest: string,
    artifactType: string | undefined,
  ): Promise<OciDescriptor[] | undefined>;
}

const descriptorSchema = z.object({
  mediaType: z.string().max(256),
  digest: z.string().refine(isDigest),
  size: z.number().int().nonnegative(),
  artifactType: z.string().max(256).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
const indexSchema = z.object({ manifests: z.array(z.unknown()) });

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

/** The reads of a client, sending through `send`. */
export function createReads(send: Send, limits: RegistryLimits): RegistryReads {
  async function headManifestAt(t: RegistryTarget, reference: string): Promise<ManifestHead> {
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

  async function getManifestAt(t: RegistryTarget, reference: string): Promise<FetchedManifest> {
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
    t: RegistryTarget,
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
    t: RegistryTarget,
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

  return { headManifestAt, getManifestAt, getBlobAt, referrersAt };
}
