import { CriguardError } from '../errors/criguard-error.js';

/** Stable codes of the errors `criguard install` / `uninstall` throw. Tests assert on these, never on text. */
export type InstallErrorCode =
  | 'CG_ERR_INSTALL_BINARY'
  | 'CG_ERR_INSTALL_HOST_ROOT'
  | 'CG_ERR_INSTALL_CONFIG_SOURCE'
  | 'CG_ERR_INSTALL_STATE'
  | 'CG_ERR_KUBELET_CONFIG_NOT_FOUND'
  | 'CG_ERR_KUBELET_CONFIG_INVALID'
  | 'CG_ERR_KUBELET_ENDPOINT_UNKNOWN'
  | 'CG_ERR_HOST_COMMAND'
  | 'CG_ERR_CRIGUARD_NOT_READY';

/** An installer failure with a stable `code`. Thrown before the step that could not be done. */
export class InstallError extends CriguardError<InstallErrorCode> {
  constructor(code: InstallErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'InstallError';
  }
}
