import { gunzipSync, inflateSync } from 'node:zlib';
import type { HeaderField } from './hpack-codec.js';
import { CriguardError } from '../../errors/criguard-error.js';

/** gRPC status codes criguard answers with itself (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** The size of a gRPC message prefix: a compressed flag and a 4-byte big-endian length. */
export const MESSAGE_PREFIX_LENGTH = 5;

/**
 * The header list of a gRPC "trailers-only" response: the whole answer to a call in one HEADERS frame.
 * Only static-table names and un-indexed literals matter to peers; the encoder indexes as it likes.
 */
export function trailersOnly(code: number, message: string): HeaderField[] {
  return [
    { name: ':status', value: '200', neverIndex: false },
    { name: 'content-type', value: 'application/grpc', neverIndex: false },
    { name: 'grpc-status', value: String(code), neverIndex: false },
    { name: 'grpc-message', value: percentEncode(message), neverIndex: false },
  ];
}

/** gRPC's grpc-message encoding: UTF-8, then percent-encode bytes outside 0x20–0x7E and '%'. */
export function percentEncode(message: string): string {
  const bytes = Buffer.from(message, 'utf8');
  let out = '';
  for (const byte of bytes) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Decodes a received grpc-message. Never throws: per the gRPC spec a malformed percent-encoding is kept
 * as it arrived, and bytes that are not UTF-8 become U+FFFD (the value comes from a peer).
 */
export function percentDecode(value: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code === 0x25 && /^[0-9A-Fa-f]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(code & 0xff);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** The value of the first field called `name`, or undefined. */
export function headerValue(fields: readonly HeaderField[], name: string): string | undefined {
  for (const field of fields) if (field.name === name) return field.value;
  return undefined;
}

/**
 * Reads the one length-prefixed gRPC message at the start of `bytes`, inflating it when its compressed
 * flag is set and `encoding` is gzip or deflate. Throws (CG_ERR_GRPC_MESSAGE) on a short or oversized
 * message or an unsupported encoding.
 */
export function readGrpcMessage(bytes: Buffer, encoding: string | undefined, maxSize: number): Buffer {
  if (bytes.length < MESSAGE_PREFIX_LENGTH) throw grpcMessageError('truncated gRPC message');
  const compressed = bytes[0]!;
  const length = bytes.readUInt32BE(1);
  if (length > maxSize) throw grpcMessageError('gRPC message too large');
  if (bytes.length < MESSAGE_PREFIX_LENGTH + length) throw grpcMessageError('truncated gRPC message');
  const body = bytes.subarray(MESSAGE_PREFIX_LENGTH, MESSAGE_PREFIX_LENGTH + length);
  if (compressed === 0) return body;
  if (compressed !== 1) throw grpcMessageError('bad gRPC compressed flag');
  const options = { maxOutputLength: maxSize };
  if (encoding === 'gzip') return gunzipSync(body, options);
  if (encoding === 'deflate') return inflateSync(body, options);
  throw grpcMessageError(`unsupported grpc-encoding ${JSON.stringify(encoding ?? '')}`);
}

function grpcMessageError(message: string): Error {
  return new CriguardError('CG_ERR_GRPC_MESSAGE', message);
}
