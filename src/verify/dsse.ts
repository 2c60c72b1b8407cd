/** DSSE payload type of in-toto statements. */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** in-toto statement `_type` values accepted. */
export const IN_TOTO_STATEMENT_TYPES: readonly string[] = Object.freeze([
  'https://in-toto.io/Statement/v1',
  'https://in-toto.io/Statement/v0.1',
]);
/** Largest DSSE body accepted (same order as simple-signing payloads). */
export const MAX_DSSE_BODY_BYTES = 64 * 1024;

const PREFIX = 'DSSEv1 ';

/**
 * DSSE pre-authentication encoding: `"DSSEv1" SP len(type) SP type SP len(body) SP body`, lengths in
 * ASCII decimal bytes. The DSSE signature is over exactly these bytes. Pure.
 */
export function encodeDssePae(payloadType: string, body: Uint8Array): Uint8Array {
  const type = Buffer.from(payloadType, 'utf8');
  return new Uint8Array(
    Buffer.concat([
      Buffer.from(`${PREFIX}${type.length} `),
      type,
      Buffer.from(` ${body.length} `),
      Buffer.from(body),
    ]),
  );
}

/** True when `bytes` start like a PAE (a simple-signing JSON payload never does). */
export function isDssePae(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.subarray(0, PREFIX.length)).toString('latin1') === PREFIX;
}

/**
 * Inverse of encodeDssePae, strict: canonical decimal lengths (no leading zeros), exact sizes, nothing
 * trailing. Returns undefined for anything else. Pure.
 */
export function decodeDssePae(bytes: Uint8Array): { payloadType: string; body: Uint8Array } | undefined {
  if (!isDssePae(bytes)) return undefined;
  const buf = Buffer.from(bytes);
  let pos = PREFIX.length;
  const readLength = (): number | undefined => {
    const space = buf.indexOf(0x20, pos);
    if (space < 0 || space - pos > 9) return undefined;
    const text = buf.subarray(pos, space).toString('latin1');
    if (!/^(0|[1-9][0-9]*)$/.test(text)) return undefined;
    pos = space + 1;
    return Number(text);
  };
  const typeLength = readLength();
  if (typeLength === undefined || pos + typeLength + 1 > buf.length) return undefined;
  const payloadType = buf.subarray(pos, pos + typeLength).toString('utf8');
  pos += typeLength;
  if (buf[pos] !== 0x20) return undefined;
  pos += 1;
  const bodyLength = readLength();
  if (bodyLength === undefined || pos + bodyLength !== buf.length) return undefined;
  return { payloadType, body: new Uint8Array(buf.subarray(pos)) };
}

/**
 * Predicate types that mean "this image is approved": cosign 3's signature statement. Other statements
 * signed with an attestor's key (SBOMs, vulnerability scans, provenance) are evidence of something else
 * and never satisfy an attestor.
 */
export const SIGNATURE_PREDICATE_TYPES: readonly string[] = Object.freeze([
  'https://sigstore.dev/cosign/sign/v1',
]);

/** Outcome of checkInTotoStatement (names match verify-attestations' EvidenceRejection). */
export type InTotoCheck = 'OK' | 'PAYLOAD_INVALID' | 'PAYLOAD_TYPE' | 'DIGEST_MISMATCH';

/**
 * Checks a verified DSSE PAE carrying an in-toto statement for `digest` (`sha256:<hex>`): payload type
 * `application/vnd.in-toto+json`, `_type` a known statement type, `predicateType` one of
 * SIGNATURE_PREDICATE_TYPES, and a `subject` entry whose `digest[<algorithm>]` equals the hex. Call only after a trusted key verified the PAE bytes. Pure, total.
 */
export function checkInTotoStatement(pae: Uint8Array, digest: string): InTotoCheck {
  const decoded = decodeDssePae(pae);
  if (decoded === undefined || decoded.body.length > MAX_DSSE_BODY_BYTES) return 'PAYLOAD_INVALID';
  if (decoded.payloadType !== IN_TOTO_PAYLOAD_TYPE) return 'PAYLOAD_TYPE';
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(decoded.body));
  } catch {
    return 'PAYLOAD_INVALID';
  }
  if (typeof doc !== 'object' || doc === null) return 'PAYLOAD_INVALID';
  const statement = doc as { _type?: unknown; subject?: unknown; predicateType?: unknown };
  if (typeof statement._type !== 'string' || !IN_TOTO_STATEMENT_TYPES.includes(statement._type))
    return 'PAYLOAD_TYPE';
  if (
    typeof statement.predicateType !== 'string' ||
    !SIGNATURE_PREDICATE_TYPES.includes(statement.predicateType)
  )
    return 'PAYLOAD_TYPE';
  if (
    !Array.isArray(statement.subject) ||
    statement.subject.length === 0 ||
    statement.subject.length > 1024
  ) {
    return 'PAYLOAD_INVALID';
  }
  const colon = digest.indexOf(':');
  const matches = subjectsName(statement.subject, digest.slice(0, colon), digest.slice(colon + 1));
  return matches ? 'OK' : 'DIGEST_MISMATCH';
}

/** Whether one of an in-toto statement's `subject` entries carries `algorithm: hex` in its digests. */
export function subjectsName(subjects: readonly unknown[], algorithm: string, hex: string): boolean {
  return subjects.some((s: unknown) => {
    const d = typeof s === 'object' && s !== null ? (s as { digest?: unknown }).digest : undefined;
    return (
      typeof d === 'object' &&
      d !== null &&
      Object.hasOwn(d, algorithm) &&
      (d as Record<string, unknown>)[algorithm] === hex
    );
  });
}
