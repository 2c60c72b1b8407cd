export {
  SIGNATURE_ALGORITHMS,
  SIGNATURE_ALGORITHM_ALIASES,
  toSignatureAlgorithm,
  algorithmSpec,
} from './algorithms.js';
export type { SignatureAlgorithm, AlgorithmSpec } from './algorithms.js';
export type { AttestationRecord, AttestationSignature } from './attestation.js';
export { VerifyError } from './errors.js';
export type { VerifyErrorCode } from './errors.js';
export { parseTrustedKey, defaultKeyId } from './public-key.js';
export type { TrustedKey } from './public-key.js';
export { verifySignature, isStrictDerEcdsa, MAX_SIGNATURE_BYTES } from './signature.js';
export {
  parseSimpleSigningPayload,
  createSimpleSigningPayload,
  createCosignPayload,
  MAX_PAYLOAD_BYTES,
  SIMPLE_SIGNING_TYPES,
} from './simple-signing.js';
export type { SimpleSigningPayload } from './simple-signing.js';
export { verifyAttestors } from './verify-attestations.js';
export type {
  AttestorOutcome,
  EvidenceRejection,
  TrustedAttestor,
  VerifyAttestorsOptions,
} from './verify-attestations.js';
export {
  VerificationSession,
  MAX_VERIFICATIONS_PER_DECISION,
  keyFingerprint,
} from './verification-session.js';
export { verifySignatureAsync, MAX_VERIFICATIONS_IN_FLIGHT } from './signature.js';
export {
  parsePgpTrustedKey,
  verifyPgpSignatures,
  pgpSignedPayload,
  MAX_PGP_KEY_BYTES,
  MAX_PGP_SIGNATURE_BYTES,
} from './pgp.js';
export type { PgpTrustedKey } from './pgp.js';
