import { createHash } from 'node:crypto';
import * as openpgp from 'openpgp';
import type { AttestationRecord, AttestationSignature } from './attestation.js';
import { VerifyError } from './errors.js';
import { MAX_PAYLOAD_BYTES } from './simple-signing.js';

/**
 * OpenPGP attestor keys and signatures, as Binary Authorization defines them: an attestor key is an
 * ASCII-armored OpenPGP public key whose id is its fingerprint; an attestation's signature is what
 * `gpg --armor --sign` makes over the payload (a signed message carrying it) or a detached signature
 * (`gpg --armor --detach-sign`), armored or binary, or a clear-signed message (`gpg --clearsign`). Verification uses OpenPGP.js (asynchronous), so it runs
 * in `verifyPgpSignatures` before the synchronous `verifyAttestors`, which then only looks results up.
 */

/** A trusted OpenPGP public key: its id (upper-case hex fingerprint of the primary key) and armored text. */
export interface PgpTrustedKey {
  readonly id: string;
  readonly armored: string;
}

/** Largest armored key accepted in a policy. */
export const MAX_PGP_KEY_BYTES = 64 * 1024;
/** Largest OpenPGP signature (or signed message) looked at. */
export const MAX_PGP_SIGNATURE_BYTES = 64 * 1024;

const ARMOR =
  /^-----BEGIN PGP PUBLIC KEY BLOCK-----\r?\n([\s\S]*?)\r?\n-----END PGP PUBLIC KEY BLOCK-----\s*$/;

/**
 * Checks an armored OpenPGP public key's structure (armor, checksum, a v4/v5/v6 primary public key packet
 * first) and computes its fingerprint; `id`, when given, must be that fingerprint (any case, spaces
 * ignored). Synchronous and cheap: the key's algorithms are checked when it first verifies. Throws
 * VerifyError `CG_ERR_KEY_INVALID`.
 */
export function parsePgpTrustedKey(id: string | undefined, armored: string): PgpTrustedKey {
  if (armored.length > MAX_PGP_KEY_BYTES) throw invalid('armored key over 64 KiB');
  const m = ARMOR.exec(armored.trim());
  if (m === null) throw invalid('expected one "PGP PUBLIC KEY BLOCK"');
  const bytes = dearmor(m[1] ?? '');
  const fingerprint = primaryKeyFingerprint(bytes);
  if (id !== undefined && id.replace(/\s+/g, '').toUpperCase() !== fingerprint) {
    throw invalid(`the key id must be the key's fingerprint ${fingerprint}`);
  }
  return Object.freeze({ id: fingerprint, armored });
}

/** True when a signature's `publicKeyId` names this key (fingerprints compare in any case). */
export function pgpKeyIdMatches(key: PgpTrustedKey, publicKeyId: string | undefined): boolean {
  return publicKeyId === undefined || publicKeyId.replace(/\s+/g, '').toUpperCase() === key.id;
}

/** True when the bytes look like an OpenPGP message or signature (armored or binary packets). */
export function looksLikePgp(signature: Uint8Array): boolean {
  if (signature.length < 2) return false;
  if (startsWith(signature, '-----BEGIN PGP ')) return true;
  const first = signature[0] ?? 0;
  if ((first & 0x80) === 0) return false;
  // A signature (2), one-pass signature (4) or compressed data (8) packet starts what gpg writes.
  return [2, 4, 8].includes(packetTag(first));
}

/** Signed payloads by (signature, key), written only by verifyPgpSignatures after a real verification. */
const verified = new WeakMap<AttestationSignature, WeakMap<PgpTrustedKey, Uint8Array>>();
const parsedKeys = new WeakMap<PgpTrustedKey, Promise<openpgp.PublicKey | undefined>>();

/**
 * The payload `key` signed in `signature` (the signed message's literal data, or the record's payload for
 * a detached signature), if verifyPgpSignatures verified it; undefined otherwise (fail closed).
 */
export function pgpSignedPayload(
  key: PgpTrustedKey,
  signature: AttestationSignature,
): Uint8Array | undefined {
  return verified.get(signature)?.get(key);
}

/** Attestors as far as OpenPGP needs them. */
export interface PgpAttestorKeys {
  readonly pgpKeys?: readonly PgpTrustedKey[] | undefined;
}

/**
 * Verifies every OpenPGP signature of `records` (the first `maxRecords` records, `maxSignaturesPerRecord`
 * signatures each, as verifyAttestors looks at) against the attestors' PGP keys whose id the signature
 * names (or all of them when it names none), as of `now`: an expired, revoked or not-yet-valid key or
 * signing subkey verifies nothing. Results are remembered for verifyAttestors. Never rejects: anything
 * malformed simply stays unverified.
 */
export async function verifyPgpSignatures(
  attestors: readonly PgpAttestorKeys[],
  records: readonly AttestationRecord[],
  now: Date,
  options: { readonly maxRecords?: number; readonly maxSignaturesPerRecord?: number } = {},
): Promise<void> {
  const keys = attestors.flatMap((a) => a.pgpKeys ?? []);
  if (keys.length === 0) return;
  for (const record of records.slice(0, options.maxRecords ?? 64)) {
    for (const sig of record.signatures.slice(0, options.maxSignaturesPerRecord ?? 16)) {
      if (sig.signature.length > MAX_PGP_SIGNATURE_BYTES || !looksLikePgp(sig.signature)) continue;
      for (const key of keys) {
        if (!pgpKeyIdMatches(key, sig.publicKeyId) || verified.get(sig)?.has(key)) continue;
        const payload = await verifyOne(key, record.payload, sig.signature, now);
        if (payload === undefined) continue;
        let byKey = verified.get(sig);
        if (byKey === undefined) verified.set(sig, (byKey = new WeakMap()));
        byKey.set(key, payload);
      }
    }
  }
}

/** OpenPGP.js defaults (a copy: the library's global is mutable) with decompression bounded. */
const CONFIG: openpgp.Config = {
  ...openpgp.config,
  maxDecompressedMessageSize: MAX_PAYLOAD_BYTES,
};

/** Resolves to the signed payload when `key` verifies `signature`, else undefined. */
async function verifyOne(
  key: PgpTrustedKey,
  payload: Uint8Array,
  signature: Uint8Array,
  now: Date,
): Promise<Uint8Array | undefined> {
  const publicKey = await readPublicKey(key);
  if (publicKey === undefined) return undefined;
  try {
    const armored = startsWith(signature, '-----BEGIN PGP ');
    const text = armored ? new TextDecoder().decode(signature) : undefined;
    if (text?.startsWith('-----BEGIN PGP SIGNATURE-----') || (!armored && isDetached(signature))) {
      const detached =
        text === undefined
          ? await openpgp.readSignature({ binarySignature: signature, config: CONFIG })
          : await openpgp.readSignature({ armoredSignature: text, config: CONFIG });
      const message = await openpgp.createMessage({ binary: payload });
      const result = await openpgp.verify({
        message,
        signature: detached,
        verificationKeys: publicKey,
        date: now,
        format: 'binary',
        config: CONFIG,
      });
      return (await anyVerified(publicKey, result.signatures, now)) ? payload : undefined;
    }
    if (text?.startsWith('-----BEGIN PGP SIGNED MESSAGE-----'))
      return await verifyCleartext(publicKey, text, now);
    if (armored && !text?.startsWith('-----BEGIN PGP MESSAGE-----')) return undefined;
    const message =
      text === undefined
        ? await openpgp.readMessage({ binaryMessage: signature, config: CONFIG })
        : await openpgp.readMessage({ armoredMessage: text, config: CONFIG });
    const result = await openpgp.verify({
      message,
      verificationKeys: publicKey,
      date: now,
      format: 'binary',
      config: CONFIG,
    });
    const data = result.data;
    if (!(data instanceof Uint8Array) || data.length > MAX_PAYLOAD_BYTES) return undefined;
    return (await anyVerified(publicKey, result.signatures, now)) ? new Uint8Array(data) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A clear-signed message (`gpg --clearsign`): the payload is the signed text as OpenPGP defines it
 * (dash-unescaped, trailing whitespace of each line and the final line break not signed), UTF-8 encoded.
 * For a JSON payload that changes no value: JSON strings cannot span lines.
 */
async function verifyCleartext(
  publicKey: openpgp.PublicKey,
  text: string,
  now: Date,
): Promise<Uint8Array | undefined> {
  const message = await openpgp.readCleartextMessage({ cleartextMessage: text, config: CONFIG });
  const result = await openpgp.verify({ message, verificationKeys: publicKey, date: now, config: CONFIG });
  const data = new TextEncoder().encode(result.data);
  if (data.length > MAX_PAYLOAD_BYTES) return undefined;
  return (await anyVerified(publicKey, result.signatures, now)) ? data : undefined;
}

/**
 * True when one signature verified (OpenPGP.js checks the key was valid when it signed) and the signing
 * key (primary or subkey) is still valid, neither expired nor revoked, at `now`: a signature's creation
 * time is chosen by whoever holds the private key, so an expired key's signatures are not trusted.
 */
async function anyVerified(
  publicKey: openpgp.PublicKey,
  signatures: readonly { keyID: openpgp.KeyID; verified: Promise<boolean> }[],
  now: Date,
): Promise<boolean> {
  for (const s of signatures) {
    try {
      if ((await s.verified) !== true) continue;
      await publicKey.getSigningKey(s.keyID, now, undefined, CONFIG);
      return true;
    } catch {
      // not this key, bad signature, expired or revoked key: try the next one
    }
  }
  return false;
}

function readPublicKey(key: PgpTrustedKey): Promise<openpgp.PublicKey | undefined> {
  let parsed = parsedKeys.get(key);
  if (parsed === undefined) {
    parsed = openpgp
      .readKey({ armoredKey: key.armored, config: CONFIG })
      .then((k) =>
        k.isPrivate() || k.getFingerprint().toUpperCase() !== key.id ? undefined : (k as openpgp.PublicKey),
      )
      .catch(() => undefined);
    parsedKeys.set(key, parsed);
  }
  return parsed;
}

/** A binary detached signature is a lone signature packet (tag 2). */
function isDetached(bytes: Uint8Array): boolean {
  return packetTag(bytes[0] ?? 0) === 2;
}

/** The packet tag of a packet's first byte (new or old format). */
function packetTag(first: number): number {
  return first & 0x40 ? first & 0x3f : (first >> 2) & 0x0f;
}

function startsWith(bytes: Uint8Array, prefix: string): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix.charCodeAt(i)) return false;
  return true;
}

function invalid(message: string): VerifyError {
  return new VerifyError('CG_ERR_KEY_INVALID', `OpenPGP key: ${message}`);
}

/** Decodes an armor body: optional headers, base64 lines, optional `=XXXX` CRC-24 (checked when present). */
function dearmor(body: string): Uint8Array {
  const lines = body.split(/\r?\n/);
  const blank = lines.findIndex((l) => l.trim() === '');
  const headerEnd = lines.slice(0, blank < 0 ? 0 : blank).every((l) => /^[^:\s]+: /.test(l)) ? blank + 1 : 0;
  let data = lines.slice(headerEnd).map((l) => l.trim());
  let crc: string | undefined;
  const last = data.at(-1);
  if (last?.startsWith('=') === true && last.length === 5) {
    crc = last.slice(1);
    data = data.slice(0, -1);
  }
  const b64 = data.join('');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length === 0) throw invalid('armor is not base64');
  const bytes = new Uint8Array(Buffer.from(b64, 'base64'));
  if (crc !== undefined && Buffer.from(crc24(bytes)).toString('base64') !== crc) {
    throw invalid('armor checksum mismatch');
  }
  return bytes;
}

function crc24(bytes: Uint8Array): Uint8Array {
  let crc = 0xb704ce;
  for (const b of bytes) {
    crc ^= b << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return Uint8Array.of((crc >> 16) & 0xff, (crc >> 8) & 0xff, crc & 0xff);
}

/** Fingerprint of the first packet, which must be a public key (tag 6): v4 SHA-1, v5/v6 SHA-256 (RFC 9580). */
function primaryKeyFingerprint(bytes: Uint8Array): string {
  const first = bytes[0] ?? 0;
  if ((first & 0x80) === 0) throw invalid('not an OpenPGP packet');
  const tag = packetTag(first);
  let length: number;
  let pos: number;
  if (first & 0x40) {
    const l0 = bytes[1] ?? 0;
    if (l0 < 192) [length, pos] = [l0, 2];
    else if (l0 < 224) [length, pos] = [((l0 - 192) << 8) + (bytes[2] ?? 0) + 192, 3];
    else if (l0 === 255) [length, pos] = [Buffer.from(bytes.subarray(2, 6)).readUInt32BE(0), 6];
    else throw invalid('partial length in a key packet');
  } else {
    const type = first & 0x03;
    if (type === 3) throw invalid('indeterminate length in a key packet');
    const n = 1 << type;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + (bytes[1 + i] ?? 0);
    pos = 1 + n;
  }
  if (tag !== 6) throw invalid('the first packet is not a public key (is it a private key?)');
  if (pos + length > bytes.length || length < 1) throw invalid('truncated key packet');
  const body = bytes.subarray(pos, pos + length);
  const version = body[0];
  if (version === 4) {
    const head = Uint8Array.of(0x99, (length >> 8) & 0xff, length & 0xff);
    return createHash('sha1').update(head).update(body).digest('hex').toUpperCase();
  }
  if (version === 5 || version === 6) {
    const head = Buffer.alloc(5);
    head[0] = version === 6 ? 0x9b : 0x9a;
    head.writeUInt32BE(length, 1);
    return createHash('sha256').update(head).update(body).digest('hex').toUpperCase();
  }
  throw invalid(`unsupported key version ${String(version)}`);
}
