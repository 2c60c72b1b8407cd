import { CriguardError } from '../errors/criguard-error.js';

/** Stable error codes thrown by `src/verify/` while loading trust material or parsing payloads. */
export type VerifyErrorCode =
  | 'CG_ERR_KEY_INVALID'
  | 'CG_ERR_KEY_ALGORITHM_UNSUPPORTED'
  | 'CG_ERR_KEY_ALGORITHM_MISMATCH'
  | 'CG_ERR_PAYLOAD_TOO_LARGE'
  | 'CG_ERR_PAYLOAD_NOT_JSON'
  | 'CG_ERR_PAYLOAD_INVALID'
  | 'CG_ERR_PAYLOAD_TYPE'
  | 'CG_ERR_TRUSTED_ROOT_INVALID'
  | 'CG_ERR_IDENTITY_INVALID';

/** An error with a stable `code`; messages are for humans, tests assert on codes. */
export class VerifyError extends CriguardError<VerifyErrorCode> {
  constructor(code: VerifyErrorCode, message: string) {
    super(code, `${code}: ${message}`);
    this.name = 'VerifyError';
  }
}
