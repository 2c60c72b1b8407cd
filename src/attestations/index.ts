export type { AttestationSource } from './attestation-source.js';
export { AttestationError } from './errors.js';
export type { AttestationErrorCode } from './errors.js';
export { parseAttestationFile, toAttestationFile, MAX_ATTESTATION_FILE_BYTES } from './attestation-file.js';
export type { AttestationFile } from './attestation-file.js';
export {
  createLocalDirectorySource,
  writeAttestationFile,
  digestDirectoryName,
} from './local-directory-source.js';
export type { LocalDirectoryLimits, LocalDirectorySourceOptions } from './local-directory-source.js';
