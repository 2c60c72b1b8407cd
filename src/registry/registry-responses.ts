import { createHash } from 'node:crypto';
import { isDigest } from '../reference/digest.js';
import { discardBody } from './bounded-body.js';
import { RegistryError } from './errors.js';
import { describe, type HttpResponse } from './transport.js';

/** `sha256:<hex>` (or `sha512:<hex>`) of bytes. */
export function digestOf(bytes: Uint8Array, algorithm: 'sha256' | 'sha512' = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** A tag or canonical digest; anything else would change the URL path. */
export function checkReference(reference: string): string {
  if (isDigest(reference) || TAG.test(reference)) return reference;
  throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', 'invalid tag or digest');
}

/** A 401 that authenticating did not cure. */
export function denied(url: URL, status: number): RegistryError {
  return new RegistryError(
    'CG_ERR_REGISTRY_DENIED',
    `${describe(url)}: HTTP ${status} after authentication`,
    { status },
  );
}

/** Maps a non-2xx status to a RegistryError (after discarding the body). */
export async function expectOk(res: HttpResponse, url: URL): Promise<void> {
  if (res.status === 200) return;
  await expectStatus(res, url, 200);
}

/**
 * Returns when the status is `ok`; otherwise discards the body and throws: 404 NOT_FOUND, 401/403 DENIED,
 * 429/5xx UNAVAILABLE, anything else PROTOCOL. The message names the URL (no credentials) and status.
 */
export async function expectStatus(res: HttpResponse, url: URL, ok: number): Promise<void> {
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

/** The media type of the `Content-Type` header, without parameters ('' when absent). */
export function mediaTypeOf(res: HttpResponse): string {
  return (res.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
}

/** The `mediaType` field of a JSON manifest ('' when there is none). */
export function mediaTypeFromBody(bytes: Uint8Array): string {
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
