import type { AdmissionOutcome, RefusalKind } from '../admission/admission.js';
import type { Rejection } from './transport/contract.js';
import { GrpcCode } from './transport/grpc-wire.js';

/**
 * The one table from refusals to what the kubelet sees. cri-client strips the gRPC wrapper only for
 * UNKNOWN, and the kubelet then matches these message prefixes (pod reasons SignatureValidationFailed,
 * RegistryUnavailable; CreateContainerError for CreateContainer). A node too busy to verify has no prefix
 * (ErrImagePull / CreateContainerError): it says nothing about the image.
 */
const REFUSALS: Readonly<Record<RefusalKind, { code: number; prefix: string }>> = Object.freeze({
  denied: { code: GrpcCode.UNKNOWN, prefix: 'SignatureValidationFailed: ' },
  'registry-unavailable': { code: GrpcCode.UNKNOWN, prefix: 'RegistryUnavailable: ' },
  // The node, not the image: no signature-failure reason; the kubelet shows its own pull/create error.
  busy: { code: GrpcCode.UNKNOWN, prefix: '' },
  'bad-request': { code: GrpcCode.UNKNOWN, prefix: 'SignatureValidationFailed: ' },
});

/** Longest status message criguard sends; the kubelet shows it in `kubectl describe pod`. */
export const MAX_STATUS_MESSAGE = 1024;

/** Maps a refusal to the gRPC status the client receives; undefined for an allowed outcome. */
export function toRejection(outcome: AdmissionOutcome): Rejection | undefined {
  if (outcome.allowed) return undefined;
  const { code, prefix } = REFUSALS[outcome.kind];
  const message = `${prefix}${outcome.reason}`;
  return {
    code,
    message: message.length > MAX_STATUS_MESSAGE ? `${message.slice(0, MAX_STATUS_MESSAGE - 1)}…` : message,
  };
}
