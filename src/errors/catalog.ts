/**
 * Every stable error code criguard reports, with the part of criguard that raises it. Operators meet the
 * codes in audit records (`errorCode`), CLI output and the daemon's log; docs/errors.md says what each
 * means and what to do. test/errors/catalog.test.ts keeps this list, that table and the codes written
 * in `src/` in step: a code is added here, in the table, and in its module's union, or not at all.
 */
export const ERROR_CODES = {
  // admission: could not decide, or refused before deciding
  CG_ERR_INTERNAL: 'admission',
  CG_ERR_TIMEOUT: 'admission',
  CG_ERR_CANCELLED: 'admission',
  CG_ERR_VERIFY_BUSY: 'admission',
  CG_ERR_TOO_MANY_IMAGES: 'admission',
  CG_ERR_IMAGE_NOT_CONTENT_ADDRESSED: 'admission',
  CG_ERR_IMAGE_NOT_PRESENT: 'admission',
  CG_ERR_IMAGE_ID_MISMATCH: 'admission',
  CG_ERR_NO_REGISTRY_DIGEST: 'admission',
  CG_ERR_PULLED_DIGEST_MISMATCH: 'admission',
  CG_ERR_PULLED_PLATFORM_MISMATCH: 'admission',
  CG_ERR_QUARANTINED: 'admission',
  // reference
  CG_ERR_REFERENCE_INVALID: 'reference',
  CG_ERR_DIGEST_INVALID: 'reference',
  // policy
  CG_ERR_POLICY_INVALID: 'policy',
  CG_ERR_POLICY_TOO_LARGE: 'policy',
  CG_ERR_POLICY_SYNTAX: 'policy',
  CG_ERR_POLICY_UNKNOWN_FIELD: 'policy',
  CG_ERR_POLICY_REQUIRED: 'policy',
  CG_ERR_POLICY_TYPE: 'policy',
  CG_ERR_POLICY_ENUM: 'policy',
  CG_ERR_POLICY_EMPTY: 'policy',
  CG_ERR_POLICY_VALUE: 'policy',
  CG_ERR_POLICY_RULE_UNSUPPORTED: 'policy',
  CG_ERR_POLICY_KIND_UNSUPPORTED: 'policy',
  CG_ERR_POLICY_ATTESTATIONS_MISMATCH: 'policy',
  CG_ERR_POLICY_ATTESTOR_UNKNOWN: 'policy',
  CG_ERR_POLICY_ATTESTOR_AMBIGUOUS: 'policy',
  CG_ERR_POLICY_DUPLICATE: 'policy',
  CG_ERR_POLICY_PATTERN_INVALID: 'policy',
  CG_ERR_POLICY_KEY_INVALID: 'policy',
  CG_ERR_POLICY_KEY_ALGORITHM_MISMATCH: 'policy',
  CG_ERR_POLICY_FILE_UNREADABLE: 'policy',
  CG_ERR_IMAGE_IDENTITY_INVALID: 'policy',
  // verify
  CG_ERR_KEY_INVALID: 'verify',
  CG_ERR_KEY_ALGORITHM_UNSUPPORTED: 'verify',
  CG_ERR_KEY_ALGORITHM_MISMATCH: 'verify',
  CG_ERR_PAYLOAD_TOO_LARGE: 'verify',
  CG_ERR_PAYLOAD_NOT_JSON: 'verify',
  CG_ERR_PAYLOAD_INVALID: 'verify',
  CG_ERR_PAYLOAD_TYPE: 'verify',
  CG_ERR_TRUSTED_ROOT_INVALID: 'verify',
  CG_ERR_IDENTITY_INVALID: 'verify',
  // registry
  CG_ERR_REGISTRY_UNAVAILABLE: 'registry',
  CG_ERR_REGISTRY_NOT_FOUND: 'registry',
  CG_ERR_REGISTRY_DENIED: 'registry',
  CG_ERR_REGISTRY_LIMIT: 'registry',
  CG_ERR_REGISTRY_DIGEST_MISMATCH: 'registry',
  CG_ERR_REGISTRY_PROTOCOL: 'registry',
  CG_ERR_REGISTRY_HOSTS_INVALID: 'registry',
  // attestations
  CG_ERR_ATTESTATION_FILE_INVALID: 'attestations',
  CG_ERR_ATTESTATION_LIMIT: 'attestations',
  CG_ERR_ATTESTATION_IO: 'attestations',
  // breakglass (a problem with the file: it is ignored as a whole)
  CG_ERR_BREAKGLASS_SYMLINK: 'breakglass',
  CG_ERR_BREAKGLASS_HARDLINK: 'breakglass',
  CG_ERR_BREAKGLASS_NOT_REGULAR: 'breakglass',
  CG_ERR_BREAKGLASS_OWNER: 'breakglass',
  CG_ERR_BREAKGLASS_MODE: 'breakglass',
  CG_ERR_BREAKGLASS_DIR_UNSAFE: 'breakglass',
  CG_ERR_BREAKGLASS_TOO_LARGE: 'breakglass',
  CG_ERR_BREAKGLASS_UNREADABLE: 'breakglass',
  CG_ERR_BREAKGLASS_INCOMPLETE: 'breakglass',
  CG_ERR_BREAKGLASS_PARSE: 'breakglass',
  CG_ERR_BREAKGLASS_EXPIRED: 'breakglass',
  CG_ERR_BREAKGLASS_TOO_LONG: 'breakglass',
  // quarantine (a problem with the file: the last good list stays in force)
  CG_ERR_QUARANTINE_SYMLINK: 'quarantine',
  CG_ERR_QUARANTINE_HARDLINK: 'quarantine',
  CG_ERR_QUARANTINE_NOT_REGULAR: 'quarantine',
  CG_ERR_QUARANTINE_OWNER: 'quarantine',
  CG_ERR_QUARANTINE_MODE: 'quarantine',
  CG_ERR_QUARANTINE_DIR_UNSAFE: 'quarantine',
  CG_ERR_QUARANTINE_TOO_LARGE: 'quarantine',
  CG_ERR_QUARANTINE_UNREADABLE: 'quarantine',
  CG_ERR_QUARANTINE_INCOMPLETE: 'quarantine',
  CG_ERR_QUARANTINE_PARSE: 'quarantine',
  // files
  CG_ERR_FILE_NOT_FOUND: 'files',
  CG_ERR_FILE_NOT_REGULAR: 'files',
  CG_ERR_FILE_SYMLINK: 'files',
  CG_ERR_FILE_TOO_LARGE: 'files',
  CG_ERR_FILE_UNSAFE: 'files',
  CG_ERR_FILE_UNREADABLE: 'files',
  // cri
  CG_ERR_UPSTREAM: 'cri',
  CG_ERR_SOCKET_IN_USE: 'cri',
  CG_ERR_SOCKET_PATH: 'cri',
  CG_ERR_SOCKET_ACTIVATION: 'cri',
  CG_ERR_H2_PROTOCOL: 'cri/transport',
  CG_ERR_GRPC_MESSAGE: 'cri/transport',
  // config
  CG_ERR_CONFIG: 'config',
  // install
  CG_ERR_INSTALL_BINARY: 'install',
  CG_ERR_INSTALL_HOST_ROOT: 'install',
  CG_ERR_INSTALL_CONFIG_SOURCE: 'install',
  CG_ERR_INSTALL_STATE: 'install',
  CG_ERR_KUBELET_CONFIG_NOT_FOUND: 'install',
  CG_ERR_KUBELET_CONFIG_INVALID: 'install',
  CG_ERR_KUBELET_ENDPOINT_UNKNOWN: 'install',
  CG_ERR_HOST_COMMAND: 'install',
  CG_ERR_CRIGUARD_NOT_READY: 'install',
  // signing
  CG_ERR_SIGNING_KEY_INVALID: 'signing',
  CG_ERR_SIGNING_KEY_UNSUPPORTED: 'signing',
  CG_ERR_SIGNING_KEY_PASSPHRASE: 'signing',
  // cli
  CG_ERR_USAGE: 'cli',
} as const satisfies Readonly<Record<`CG_ERR_${string}`, string>>;

/** A stable error code: one of ERROR_CODES. Each module declares the union of those it raises. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** True when `value` is a catalogued error code. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}
