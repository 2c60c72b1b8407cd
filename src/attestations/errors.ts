import { CriguardError } from '../errors/criguard-error.js';

/** Stable error codes of `src/attestations/`. */
export type AttestationErrorCode =
  'CG_ERR_ATTESTATION_FILE_INVALID' | 'CG_ERR_ATTESTATION_LIMIT' | 'CG_ERR_ATTESTATION_IO';

/** Error with a stable `code` thrown by attestation sources and the file codec. */
export class AttestationError extends CriguardError<AttestationErrorCode> {
  constructor(code: AttestationErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, `${code}: ${message}`, options);
    this.name = 'AttestationError';
  }
}
