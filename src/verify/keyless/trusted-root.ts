import { createHash } from 'node:crypto';
import type { X509Certificate } from '@sigstore/core';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial } from '@sigstore/verify';
import type { TrustMaterial } from '@sigstore/verify';
import { VerifyError } from '../errors.js';

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
    for (const cert of ca.certChain) {
      memoiseDer(cert);
      memoiseVerify(cert);
    }
  }
  const digest = `sha256:${createHash('sha256').update(text).digest('hex')}`;
  return Object.freeze({ digest, source, material });
}

/**
 * sigstore-js compares certificates by re-encoding them to DER on every comparison (most of a chain
 * check's time); a parsed certificate never changes, so its encoding is computed once. Used for the
 * root's certificates and for each bundle's leaf before verification.
 */
export function memoiseDer(cert: X509Certificate): void {
  memoiseTree(cert.root);
}

/** Every node of a parsed (never modified) ASN.1 tree encodes once, lazily. */
function memoiseTree(node: X509Certificate['root']): void {
  const encode = node.toDER.bind(node);
  let der: Buffer | undefined;
  node.toDER = () => (der ??= encode());
  for (const sub of node.subs) memoiseTree(sub);
}

/**
 * The root's own certificates (a CA's intermediate and root) are verified against each other on every
 * chain check; they never change, so each answer is kept on the certificate object (ours, created by
 * toTrustMaterial above). Leaf certificates are new objects each time and are always verified.
 */
function memoiseVerify(cert: X509Certificate): void {
  const verify = cert.verify.bind(cert);
  const answers = new Map<X509Certificate | undefined, boolean>();
  cert.verify = (issuer?: X509Certificate): boolean => {
    let answer = answers.get(issuer);
    if (answer === undefined) {
      answer = verify(issuer);
      answers.set(issuer, answer);
    }
    return answer;
  };
}
