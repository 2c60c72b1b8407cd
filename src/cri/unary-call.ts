import { connect as connectHttp2, constants, type ClientHttp2Session } from 'node:http2';
import { connect as connectUnix } from 'node:net';
import { GrpcCode, percentDecode, readGrpcMessage } from './transport/grpc-wire.js';

/** A gRPC call that ended with a non-OK status; `grpcCode` is the status code. */
export class GrpcCallError extends Error {
  constructor(
    readonly grpcCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'GrpcCallError';
  }
}

/**
 * criguard's own unary gRPC calls to containerd over node:http2, on a connection of their own (not the
 * kubelet's). One session, re-established after it closes. Requests and responses are raw protobuf
 * bytes; responses are capped at `maxMessageBytes`. Rejects with GrpcCallError (a status) or the
 * transport's error; nothing the upstream sends throws outside the returned promise.
 */
export function createUnaryCaller(socketPath: string, maxMessageBytes: number) {
  let session: ClientHttp2Session | undefined;
  const current = (): ClientHttp2Session => {
    if (session && !session.closed && !session.destroyed) return session;
    const s = connectHttp2('http://localhost', { createConnection: () => connectUnix(socketPath) });
    s.on('error', () => undefined); // reported per call through the stream
    s.on('close', () => {
      if (session === s) session = undefined;
    });
    s.unref();
    session = s;
    return s;
  };

  return {
    call(path: string, request: Uint8Array, timeoutMs: number): Promise<Buffer> {
      return new Promise<Buffer>((resolve, reject) => {
        const prefix = Buffer.alloc(5);
        prefix.writeUInt32BE(request.length, 1);
        let stream;
        try {
          stream = current().request({
            [constants.HTTP2_HEADER_METHOD]: 'POST',
            [constants.HTTP2_HEADER_PATH]: path,
            'content-type': 'application/grpc',
            te: 'trailers',
            'grpc-timeout': `${Math.max(1, Math.ceil(timeoutMs))}m`,
          });
        } catch (err) {
          reject(err as Error);
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        let status: string | undefined;
        let message = '';
        const timer = setTimeout(() => stream.close(constants.NGHTTP2_CANCEL), timeoutMs + 1000);
        // Runs inside node:http2's event emitter: it must not throw whatever the headers hold.
        const take = (headers: Record<string, unknown>) => {
          if (typeof headers['grpc-status'] === 'string') status = headers['grpc-status'];
          if (typeof headers['grpc-message'] === 'string') message = percentDecode(headers['grpc-message']);
        };
        stream.on('response', take);
        stream.on('trailers', take);
        stream.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxMessageBytes + 5) stream.close(constants.NGHTTP2_CANCEL);
          else chunks.push(chunk);
        });
        stream.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        stream.on('close', () => {
          clearTimeout(timer);
          if (status === undefined) {
            reject(new GrpcCallError(GrpcCode.UNAVAILABLE, `${path}: the call ended without a status`));
          } else if (status !== '0') {
            const code = /^\d{1,2}$/.test(status) ? Number(status) : GrpcCode.UNKNOWN;
            reject(new GrpcCallError(code, `${path}: ${message.slice(0, 1024)}`));
          } else {
            try {
              resolve(readGrpcMessage(Buffer.concat(chunks), undefined, maxMessageBytes));
            } catch (err) {
              reject(err as Error);
            }
          }
        });
        stream.end(Buffer.concat([prefix, request]));
      });
    },
    close(): void {
      session?.close();
      session = undefined;
    },
  };
}
