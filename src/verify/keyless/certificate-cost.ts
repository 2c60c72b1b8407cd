import { createPublicKey, verify as verifySignature } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { X509Certificate } from '@sigstore/core';

/**
 * What makes sigstore-js's certificate checks cheap without changing what they check (ADR 0018). They
 * re-encode certificates to DER for every comparison and signature check, with an encoder that allocates
 * a 1 KiB buffer per ASN.1 node, and import the issuer's public key for every check. Here, on the objects
 * criguard hands to sigstore-js (never on its prototypes): each node of a tree encodes with a direct
 * encoder producing the same bytes, once when the tree is never modified; a root certificate's key is
 * imported once; a root certificate's check against another root certificate is answered once.
 */

type Asn1Node = X509Certificate['root'];

/** The public key of each certificate of a root, imported once (importing costs more than a verification). */
const trustedKeys = new WeakMap<X509Certificate, KeyObject>();

/**
 * Prepares a certificate of a trusted root (a CA's or timestamp authority's chain), once at parse time:
 * DER memoised, key imported, checks against the other root certificates answered once. Such objects are
 * created by toTrustMaterial for criguard and never modified.
 */
export function prepareRootCertificate(cert: X509Certificate): void {
  encodeTree(cert.root, true);
  trustedKeys.set(cert, createPublicKey({ key: cert.publicKey, format: 'der', type: 'spki' }));
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

/**
 * Prepares a bundle's leaf certificate (a new object per verification): its encoding is computed once
 * (sigstore-js never modifies it: the SCT check works on a clone, whose nodes get the direct encoder
 * without memo since that clone is modified), and its signature is checked with the root certificate's
 * key imported at parse time. The check is X509Certificate.verify's: the same signed bytes, signature and
 * algorithm; only where the issuer's KeyObject comes from differs.
 */
export function prepareLeaf(leaf: X509Certificate): void {
  encodeTree(leaf.root, true);
  const clone = leaf.clone.bind(leaf);
  leaf.clone = () => {
    const copy = clone();
    encodeTree(copy.root, false);
    return copy;
  };
  const verify = leaf.verify.bind(leaf);
  leaf.verify = (issuer?: X509Certificate): boolean => {
    const key = issuer === undefined ? undefined : trustedKeys.get(issuer);
    if (key === undefined) return verify(issuer);
    try {
      return verifySignature(leaf.signatureAlgorithm, leaf.tbsCertificate.toDER(), key, leaf.signatureValue);
    } catch {
      return false;
    }
  };
}

/**
 * Gives every node of `node`'s tree the direct DER encoder (tag, definite length, value or the
 * concatenated encodings of its children: what ASN1Obj.toDER produces), memoised when `frozen`.
 */
export function encodeTree(node: Asn1Node, frozen: boolean): void {
  let der: Buffer | undefined;
  node.toDER = frozen ? () => (der ??= encodeNode(node)) : () => encodeNode(node);
  for (const sub of node.subs) encodeTree(sub, frozen);
}

function encodeNode(node: Asn1Node): Buffer {
  const body = node.subs.length > 0 ? Buffer.concat(node.subs.map((sub) => sub.toDER())) : node.value;
  return Buffer.concat([derHeader(node.tag.toDER(), body.length), body]);
}

function derHeader(tag: number, length: number): Buffer {
  if (length < 0x80) return Buffer.from([tag, length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
}
