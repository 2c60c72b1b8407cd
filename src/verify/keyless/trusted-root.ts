import { createHash } from 'node:crypto';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial } from '@sigstore/verify';
import type { TrustMaterial } from '@sigstore/verify';
import { VerifyError } from '../errors.js';
import { prepareRootCertificate } from './certificate-cost.js';

/** Largest trusted_root.json accepted (the public-good one is about 7 KiB). */
export const MAX_TRUSTED_ROOT_BYTES = 1024 * 1024;

/** A Sigstore trusted root, parsed once: what keyless verification checks certificates and logs against. */
export interface KeylessTrust {
  /** `sha256:<hex>` of the trusted root's canonical JSON text (part of the policy revision). */
  readonly digest: string;
  /** Where it came from (a file path, `inline`, or `builtin:public-good`), for explanations. */
  readonly source: string;
  readonly material: TrustMaterial;
}

const MEDIA_TYPE = /^application\/vnd\.dev\.sigstore\.trustedroot(\.v0\.\d+)?\+json(;version=0\.\d+)?$/;

/**
 * Parses a `trusted_root.json` document (Sigstore's TrustedRoot: Fulcio CAs, Rekor logs, CT logs and
 * timestamp authorities, each with its validity window). Keys a bundle names by hint are never trusted
 * through it: keyless verification needs a certificate. Throws VerifyError `CG_ERR_TRUSTED_ROOT_INVALID`
 * for anything that is not a trusted root with at least one certificate authority and one log. Pure.
 */
export function parseTrustedRoot(doc: unknown, source: string): KeylessTrust {
  const fail = (why: string): never => {
    throw new VerifyError('CG_ERR_TRUSTED_ROOT_INVALID', `${source}: ${why}`);
  };
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fail('not a JSON object');
  const mediaType = (doc as { mediaType?: unknown }).mediaType;
  if (typeof mediaType !== 'string' || !MEDIA_TYPE.test(mediaType)) {
    fail('mediaType is not a Sigstore trusted root');
  }
  const text = JSON.stringify(doc);
  if (text.length > MAX_TRUSTED_ROOT_BYTES) fail(`over ${MAX_TRUSTED_ROOT_BYTES} bytes`);
  let material: TrustMaterial;
  try {
    const root = TrustedRoot.fromJSON(doc);
    if (root.certificateAuthorities.length === 0) fail('no certificate authority');
    if (root.tlogs.length === 0) fail('no transparency log');
    material = toTrustMaterial(root, () => {
      throw new Error('keyless verification does not trust keys by hint');
    });
  } catch (err) {
    if (err instanceof VerifyError) throw err;
    return fail(`cannot be read (${err instanceof Error ? err.message : String(err)})`);
  }
  for (const ca of [...material.certificateAuthorities, ...material.timestampAuthorities]) {
    for (const cert of ca.certChain) prepareRootCertificate(cert);
  }
  const digest = `sha256:${createHash('sha256').update(text).digest('hex')}`;
  return Object.freeze({ digest, source, material });
}
