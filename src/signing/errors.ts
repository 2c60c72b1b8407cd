import { CriguardError } from '../errors/criguard-error.js';

/** Stable error codes of `src/signing/`. */
export type SigningErrorCode =
  'CG_ERR_SIGNING_KEY_INVALID' | 'CG_ERR_SIGNING_KEY_UNSUPPORTED' | 'CG_ERR_SIGNING_KEY_PASSPHRASE';

/** Error with a stable `code` raised while loading a private key or signing. */
export class SigningError extends CriguardError<SigningErrorCode> {
  constructor(code: SigningErrorCode, message: string) {
    super(code, `${code}: ${message}`);
    this.name = 'SigningError';
  }
}
