import { VerifyError } from './errors.js';

/** Largest simple-signing payload accepted (real ones are a few hundred bytes). */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

/** `critical.type` values accepted: Binary Authorization (both casings in Google's docs) and cosign. */
export const SIMPLE_SIGNING_TYPES: readonly string[] = Object.freeze([
  'Google cloud binauthz container signature',
  'google cloud binauthz container signature',
  'cosign container image signature',
]);

/** The fields criguard reads from a simple-signing payload. */
export interface SimpleSigningPayload {
  readonly dockerReference: string;
  readonly manifestDigest: string;
  readonly type: string;
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Parses a simple-signing payload (the exact bytes that were signed; nothing is re-serialised).
 * Returns the fields criguard checks. Throws VerifyError `CG_ERR_PAYLOAD_TOO_LARGE`,
 * `CG_ERR_PAYLOAD_NOT_JSON` (not UTF-8 or not JSON), `CG_ERR_PAYLOAD_INVALID` (missing or mistyped
 * `critical.identity.docker-reference` / `critical.image.docker-manifest-digest`) or
 * `CG_ERR_PAYLOAD_TYPE`. It does not compare the digest: see verify-attestations.
 */
export function parseSimpleSigningPayload(bytes: Uint8Array): SimpleSigningPayload {
  if (bytes.length > MAX_PAYLOAD_BYTES) {
    throw new VerifyError('CG_ERR_PAYLOAD_TOO_LARGE', `payload over ${MAX_PAYLOAD_BYTES} bytes`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new VerifyError('CG_ERR_PAYLOAD_NOT_JSON', 'payload is not UTF-8 JSON');
  }
  const critical = field(doc, 'critical');
  const reference = field(field(critical, 'identity'), 'docker-reference');
  const digest = field(field(critical, 'image'), 'docker-manifest-digest');
  const type = field(critical, 'type');
  if (typeof reference !== 'string' || typeof digest !== 'string' || typeof type !== 'string') {
    throw new VerifyError('CG_ERR_PAYLOAD_INVALID', 'payload lacks critical identity, image or type');
  }
  if (!SIMPLE_SIGNING_TYPES.includes(type)) {
    throw new VerifyError('CG_ERR_PAYLOAD_TYPE', 'unsupported critical.type');
  }
  return Object.freeze({ dockerReference: reference, manifestDigest: digest, type });
}

/**
 * Builds a Binary Authorization simple-signing payload for `name@digest` (what `criguard sign` writes to
 * an attestation directory). Returns UTF-8 bytes; sign exactly these.
 */
export function createSimpleSigningPayload(name: string, digest: string): Uint8Array {
  const doc = {
    critical: {
      identity: { 'docker-reference': name },
      image: { 'docker-manifest-digest': digest },
      type: 'Google cloud binauthz container signature',
    },
  };
  return new TextEncoder().encode(JSON.stringify(doc));
}

/**
 * Builds the payload cosign writes into a `.sig` manifest for `name@digest` (what `criguard sign --push`
 * signs): type `cosign container image signature` and exactly the top-level keys `critical` and
 * `optional` (null), which containers/image requires. Returns UTF-8 bytes; sign exactly these.
 */
export function createCosignPayload(name: string, digest: string): Uint8Array {
  const doc = {
    critical: {
      identity: { 'docker-reference': name },
      image: { 'docker-manifest-digest': digest },
      type: 'cosign container image signature',
    },
    optional: null,
  };
  return new TextEncoder().encode(JSON.stringify(doc));
}

function field(value: unknown, name: string): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  return Object.hasOwn(value, name) ? (value as Record<string, unknown>)[name] : undefined;
}
