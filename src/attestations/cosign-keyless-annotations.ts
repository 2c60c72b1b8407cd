import { createHash } from 'node:crypto';
import { bundleFromJSON } from '@sigstore/bundle';
import type { Bundle } from '@sigstore/bundle';

/** Annotations cosign puts on a keyless `.sig` layer, beside `dev.cosignproject.cosign/signature`. */
export const COSIGN_CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';
export const COSIGN_CHAIN_ANNOTATION = 'dev.sigstore.cosign/chain';
export const COSIGN_BUNDLE_ANNOTATION = 'dev.sigstore.cosign/bundle';
export const COSIGN_RFC3161_ANNOTATION = 'dev.sigstore.cosign/rfc3161timestamp';

/** Largest annotation value read (a certificate chain is a few KiB). */
export const MAX_ANNOTATION_CHARS = 64 * 1024;

const PEM_CERT = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/g;

/**
 * The Sigstore bundle (v0.1: certificate chain, Rekor entry with its SET, RFC 3161 timestamp) that a
 * cosign keyless `.sig` layer's annotations amount to, for a message signature over `payload`.
 * Undefined when the layer carries no certificate (a key-signed signature) or anything is malformed:
 * the record then stays key-only evidence. Nothing here is trusted; verify/keyless checks it all.
 */
export function bundleFromCosignAnnotations(
  annotations: Readonly<Record<string, string>> | undefined,
  payload: Uint8Array,
  signature: Uint8Array,
): Bundle | undefined {
  const certificate = annotations?.[COSIGN_CERTIFICATE_ANNOTATION];
  if (certificate === undefined || certificate.length > MAX_ANNOTATION_CHARS) return undefined;
  const chainText = annotations?.[COSIGN_CHAIN_ANNOTATION] ?? '';
  if (chainText.length > MAX_ANNOTATION_CHARS) return undefined;
  const leaf = pemCertificates(certificate);
  if (leaf.length !== 1) return undefined;
  const chain = pemCertificates(chainText);
  try {
    const tlogEntries = rekorEntries(annotations?.[COSIGN_BUNDLE_ANNOTATION]);
    const rfc3161Timestamps = timestamps(annotations?.[COSIGN_RFC3161_ANNOTATION]);
    return bundleFromJSON({
      mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
      verificationMaterial: {
        x509CertificateChain: { certificates: [...leaf, ...chain].map((der) => ({ rawBytes: der })) },
        tlogEntries,
        timestampVerificationData: { rfc3161Timestamps },
      },
      messageSignature: {
        messageDigest: {
          algorithm: 'SHA2_256',
          digest: createHash('sha256').update(payload).digest('base64'),
        },
        signature: Buffer.from(signature).toString('base64'),
      },
    });
  } catch {
    return undefined;
  }
}

function pemCertificates(text: string): string[] {
  return [...text.matchAll(PEM_CERT)].map((m) => (m[1] ?? '').replace(/\s+/g, ''));
}

/** cosign's Rekor bundle annotation: `{SignedEntryTimestamp, Payload: {body, integratedTime, logIndex, logID}}`. */
function rekorEntries(text: string | undefined): unknown[] {
  if (text === undefined || text.length > MAX_ANNOTATION_CHARS) return [];
  const doc = JSON.parse(text) as {
    SignedEntryTimestamp?: unknown;
    Payload?: { body?: unknown; integratedTime?: unknown; logIndex?: unknown; logID?: unknown };
  };
  const p = doc.Payload;
  if (
    typeof doc.SignedEntryTimestamp !== 'string' ||
    typeof p?.body !== 'string' ||
    typeof p.integratedTime !== 'number' ||
    typeof p.logIndex !== 'number' ||
    typeof p.logID !== 'string' ||
    !/^[0-9a-f]{64}$/.test(p.logID)
  ) {
    throw new Error('malformed Rekor bundle annotation');
  }
  const body = JSON.parse(Buffer.from(p.body, 'base64').toString('utf8')) as {
    kind?: unknown;
    apiVersion?: unknown;
  };
  if (typeof body.kind !== 'string' || typeof body.apiVersion !== 'string') {
    throw new Error('Rekor entry body without kind');
  }
  return [
    {
      logIndex: String(p.logIndex),
      logId: { keyId: Buffer.from(p.logID, 'hex').toString('base64') },
      kindVersion: { kind: body.kind, version: body.apiVersion },
      integratedTime: String(p.integratedTime),
      inclusionPromise: { signedEntryTimestamp: doc.SignedEntryTimestamp },
      canonicalizedBody: p.body,
    },
  ];
}

/** cosign's RFC 3161 annotation: `{SignedRFC3161Timestamp: base64}`. */
function timestamps(text: string | undefined): unknown[] {
  if (text === undefined || text.length > MAX_ANNOTATION_CHARS) return [];
  const doc = JSON.parse(text) as { SignedRFC3161Timestamp?: unknown };
  if (typeof doc.SignedRFC3161Timestamp !== 'string') throw new Error('malformed timestamp annotation');
  return [{ signedTimestamp: doc.SignedRFC3161Timestamp }];
}
