import { CriguardError } from '../errors/criguard-error.js';

/** Why an image reference or digest was rejected. Stable: tests and audit records use these values. */
export type ReferenceRejection =
  | 'empty'
  | 'too-long'
  | 'name-too-long'
  | 'invalid-character'
  | 'scheme-not-allowed'
  | 'ambiguous-identifier'
  | 'invalid-domain'
  | 'invalid-path'
  | 'uppercase-path'
  | 'invalid-tag'
  | 'invalid-digest'
  | 'digest-algorithm-unsupported'
  | 'digest-required';

/** Stable error codes thrown by `src/reference/`. */
export type ReferenceErrorCode = 'CG_ERR_REFERENCE_INVALID' | 'CG_ERR_DIGEST_INVALID';

/**
 * Thrown by the reference and digest parsers. `code` is the stable error code, `reason` the sub-reason.
 * The message never echoes more than a short prefix of the (untrusted) input.
 */
export class InvalidReferenceError extends CriguardError<ReferenceErrorCode> {
  readonly reason: ReferenceRejection;
  constructor(code: ReferenceErrorCode, reason: ReferenceRejection, input: string) {
    super(code, `${code} (${reason}): ${JSON.stringify(input.slice(0, 80))}${input.length > 80 ? '…' : ''}`);
    this.name = 'InvalidReferenceError';
    this.reason = reason;
  }
}
