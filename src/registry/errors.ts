import { CriguardError } from '../errors/criguard-error.js';

/** Stable error codes of `src/registry/`. */
export type RegistryErrorCode =
  /** Network error, TLS failure, timeout, cancellation, HTTP 5xx or 429: the caller answers `RegistryUnavailable:`. */
  | 'CG_ERR_REGISTRY_UNAVAILABLE'
  /** HTTP 404 for a manifest or blob. */
  | 'CG_ERR_REGISTRY_NOT_FOUND'
  /** HTTP 401/403 after authentication was attempted (or impossible). */
  | 'CG_ERR_REGISTRY_DENIED'
  /** A size, count, depth or redirect limit was exceeded. */
  | 'CG_ERR_REGISTRY_LIMIT'
  /** Content whose hash differs from the digest asked for or announced. */
  | 'CG_ERR_REGISTRY_DIGEST_MISMATCH'
  /** Anything else the registry got wrong: unexpected status, malformed JSON or headers, bad redirect. */
  | 'CG_ERR_REGISTRY_PROTOCOL';

/**
 * Error with a stable `code` thrown by the registry client. Messages name the host, repository and HTTP
 * status only: never credentials, tokens or header values.
 */
export class RegistryError extends CriguardError<RegistryErrorCode> {
  /** HTTP status when the error comes from a response. */
  readonly status: number | undefined;
  constructor(code: RegistryErrorCode, message: string, options?: { cause?: unknown; status?: number }) {
    super(code, `${code}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RegistryError';
    this.status = options?.status;
  }
}

/** True when `err` is a RegistryError with `code` (duck-typed, so it also works across module copies). */
export function hasRegistryCode(err: unknown, code: RegistryErrorCode): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
