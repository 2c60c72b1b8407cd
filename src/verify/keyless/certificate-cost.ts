import { ASN1Obj, X509Certificate } from '@sigstore/core';
import { verifySignatureOnce } from './verified-signatures.js';

/**
 * What makes sigstore-js's certificate checks cheap without changing what they check (ADR 0018, 0022).
 * They re-encode certificates to DER for every comparison and signature check, with an encoder that
 * allocates a 1 KiB buffer per ASN.1 node, import the issuer's public key for every check, and clone a
 * certificate by encoding and parsing it again. Here, on the objects criguard hands to sigstore-js (never
 * on its prototypes): each node of a tree encodes with a direct encoder producing the same bytes, once
 * when the tree is never modified; a check against a root certificate (a trusted root's CA or timestamp
 * authority chain) goes through the memo of successful checks (verified-signatures.ts), so the
 * intermediate's check and a leaf checked before cost a hash; a root certificate's check against another
 * root certificate is answered once per object; a leaf is cloned by copying only the nodes the SCT check
 * modifies.
 */

type Asn1Node = X509Certificate['root'];

/** The certificates of trusted roots prepared here (their checks may be memoised). */
const rootCertificates = new WeakSet<X509Certificate>();

/**
 * Prepares a certificate of a trusted root (a CA's or timestamp authority's chain), once at parse time:
 * DER memoised, checks against the other root certificates answered once. Such objects are created by
 * toTrustMaterial for criguard and never modified.
 */
export function prepareRootCertificate(cert: X509Certificate): void {
  encodeTree(cert.root, true);
  rootCertificates.add(cert);
  const answers = new Map<X509Certificate | undefined, boolean>();
  cert.verify = (issuer?: X509Certificate): boolean => {
    let answer = answers.get(issuer);
    if (answer === undefined) {
      answer = verifyIssued(cert, issuer ?? cert);
      answers.set(issuer, answer);
    }
    return answer;
  };
}

/**
 * Prepares a bundle's leaf certificate (a new object per verification): its encoding is computed once
 * (sigstore-js never modifies it; the SCT check modifies a clone, which encodes without memo where it can
 * be modified), and its signature by a root certificate is checked through the memo of successful checks.
 * The check is X509Certificate.verify's: the same signed bytes, signature, algorithm and issuer key.
 */
export function prepareLeaf(leaf: X509Certificate): void {
  encodeTree(leaf.root, true);
  leaf.clone = () => cloneForExtensions(leaf);
  const verify = leaf.verify.bind(leaf);
  leaf.verify = (issuer?: X509Certificate): boolean =>
    issuer !== undefined && rootCertificates.has(issuer) ? verifyIssued(leaf, issuer) : verify(issuer);
}

/** X509Certificate.verify of `cert` by `issuer`'s key, through the memo of successful checks. */
function verifyIssued(cert: X509Certificate, issuer: X509Certificate): boolean {
  return verifySignatureOnce(
    cert.signatureAlgorithm,
    issuer.publicKey,
    cert.tbsCertificate.toDER(),
    cert.signatureValue,
  );
}

/**
 * A copy of `cert` whose extension list can be modified without touching `cert`: new nodes (encoding
 * without memo) for the certificate, its TBS, its extensions tag and extension sequence; every other node
 * is shared with `cert` (sigstore-js modifies a clone's extension list only: the SCT check removes the SCT
 * extension). Encodes to the same bytes as `cert` until modified.
 */
export function cloneForExtensions(cert: X509Certificate): X509Certificate {
  const copy = (node: Asn1Node, subs: Asn1Node[]): Asn1Node => {
    const fresh = new ASN1Obj(node.tag, node.value, subs);
    fresh.toDER = () => encodeNode(fresh);
    return fresh;
  };
  const tbs = cert.tbsCertificate;
  const tbsSubs = tbs.subs.map((sub) => {
    const list = sub.tag.isContextSpecific(0x03) ? sub.subs[0] : undefined;
    return list === undefined ? sub : copy(sub, [copy(list, [...list.subs]), ...sub.subs.slice(1)]);
  });
  return new X509Certificate(copy(cert.root, [copy(tbs, tbsSubs), ...cert.root.subs.slice(1)]));
}

/**
 * Gives every node of `node`'s tree the direct DER encoder (tag, definite length, value or the
 * concatenated encodings of its children: what ASN1Obj.toDER produces), memoised when `frozen`. A frozen
 * node that was parsed from canonical DER (minimal definite lengths, children exactly spanning its value,
 * all in the parsed buffer) encodes to the bytes it was parsed from: those bytes, without copying.
 */
export function encodeTree(node: Asn1Node, frozen: boolean): void {
  if (frozen) {
    encodeFrozen(node);
    return;
  }
  node.toDER = () => encodeNode(node);
  for (const sub of node.subs) encodeTree(sub, false);
}

/**
 * encodeTree's frozen case. Returns where, in the buffer `node` was parsed from, its encoding starts when
 * the parsed bytes are its encoding (-1 otherwise); those bytes are taken, without copying, on first use.
 */
function encodeFrozen(node: Asn1Node): number {
  const subs = node.subs.map(encodeFrozen);
  const value = node.value;
  const start = parsedStart(node, subs);
  let der: Buffer | undefined;
  node.toDER = () =>
    (der ??=
      start < 0
        ? encodeNode(node)
        : Buffer.from(value.buffer, start, value.byteOffset - start + value.length));
  return start;
}

/**
 * Where `node`'s parsed bytes start when they are what encoding it gives: its header (one tag byte, a
 * minimal definite length) precedes its value in the same buffer, and its children, canonical too
 * (`subs`: where each starts, -1 when not), lie back to back over exactly its value. Otherwise -1.
 */
function parsedStart(node: Asn1Node, subs: number[]): number {
  const value = node.value;
  const length = value.length;
  const bytes = new Uint8Array(value.buffer);
  let at = value.byteOffset;
  // The minimal definite length, read backwards: short form, or 0x80|n then n big-endian bytes.
  if (length < 0x80) {
    if (bytes[--at] !== length) return -1;
  } else {
    let n = 0;
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) {
      if (bytes[--at] !== rest % 256) return -1;
      n++;
    }
    if (bytes[--at] !== (0x80 | n)) return -1;
  }
  if (at < 1 || bytes[--at] !== node.tag.toDER()) return -1;
  if (subs.length > 0) {
    let next = value.byteOffset;
    for (let i = 0; i < subs.length; i++) {
      const sub = node.subs[i]!;
      if (subs[i] !== next || sub.value.buffer !== value.buffer) return -1;
      next = sub.value.byteOffset + sub.value.length;
    }
    if (next !== value.byteOffset + length) return -1;
  }
  return at;
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
