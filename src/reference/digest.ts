import { InvalidReferenceError } from './errors.js';

/** A content digest in canonical form: lowercase algorithm and hex, exact length for the algorithm. */
export interface Digest {
  readonly algorithm: 'sha256' | 'sha512';
  readonly hex: string;
  /** `algorithm:hex`, the form used everywhere else in criguard. */
  readonly value: string;
}

/** Hex lengths of the algorithms criguard accepts. Everything else is rejected, never guessed. */
const HEX_LENGTH = { sha256: 64, sha512: 128 } as const;
const LOWER_HEX = /^[0-9a-f]+$/;
/** distribution/reference's digest grammar, used only to tell "unsupported algorithm" from "garbage". */
const DIGEST_GRAMMAR = /^[a-z][a-z0-9]*(?:[-_+.][a-z][a-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const MAX_DIGEST_LENGTH = 7 + 1 + 128;

/**
 * Parses `sha256:<64 lowercase hex>` (or `sha512:<128>`). Returns a frozen Digest.
 * Throws InvalidReferenceError `CG_ERR_DIGEST_INVALID` (reason `invalid-digest` or
 * `digest-algorithm-unsupported`). Runs in time bounded by a length check first.
 */
export function parseDigest(input: string): Digest {
  if (input.length > MAX_DIGEST_LENGTH * 2 || input.length === 0) {
    throw new InvalidReferenceError('CG_ERR_DIGEST_INVALID', 'invalid-digest', input);
  }
  const colon = input.indexOf(':');
  const algorithm = colon < 0 ? '' : input.slice(0, colon);
  const hex = colon < 0 ? '' : input.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    const reason = DIGEST_GRAMMAR.test(input) ? 'digest-algorithm-unsupported' : 'invalid-digest';
    throw new InvalidReferenceError('CG_ERR_DIGEST_INVALID', reason, input);
  }
  if (hex.length !== HEX_LENGTH[algorithm] || !LOWER_HEX.test(hex)) {
    throw new InvalidReferenceError('CG_ERR_DIGEST_INVALID', 'invalid-digest', input);
  }
  return Object.freeze({ algorithm, hex, value: input });
}

/** What parseDigest accepts, as one pattern (test/reference/digest.test.ts checks they agree). */
const CANONICAL_DIGEST = /^(?:sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/;

/**
 * True when `input` is a canonical digest that parseDigest accepts. Never throws, and builds no error:
 * it is asked of every registry reference, tags (`sha256-….sig`) included, and an error's stack trace
 * cost more than the check (a storm of new digests: docs/adr/0009).
 */
export function isDigest(input: string): boolean {
  return CANONICAL_DIGEST.test(input);
}
