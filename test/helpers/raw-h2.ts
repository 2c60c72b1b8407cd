/**
 * Raw HTTP/2 peers written for tests: a client or server that sends exactly the frames a test chooses
 * (hostile ones included) and records every frame it receives. Header blocks use criguard's own HPACK
 * codec; nothing here validates what the other side sends.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import {
  CLIENT_PREFACE,
  Flag,
  FrameSplitter,
  FrameType,
  MAX_FRAME_PAYLOAD,
  encodeFrame,
  encodeHeaderBlock,
  encodeSettings,
} from '../../src/cri/transport/frames.js';
import {
  HeaderBlockDecoder,
  HeaderBlockEncoder,
  type HeaderField,
} from '../../src/cri/transport/hpack-codec.js';

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** One end of a raw HTTP/2 connection. */
export class RawPeer {
  readonly frames: Frame[] = [];
  readonly closed: Promise<void>;
  private readonly splitter = new FrameSplitter(MAX_FRAME_PAYLOAD);
  private readonly encoder = new HeaderBlockEncoder();
  private readonly decoder = new HeaderBlockDecoder(16 * 1024 * 1024);
  private waiters: Array<() => void> = [];
  private preface: boolean;
  isClosed = false;

  constructor(
    readonly socket: Socket,
    expectPreface: boolean,
    read = true,
  ) {
    this.preface = expectPreface;
    let pending = Buffer.alloc(0);
    socket.on('error', () => undefined);
    if (!read) socket.pause();
    else
      socket.on('data', (chunk: Buffer) => {
        if (this.preface) {
          pending = Buffer.concat([pending, chunk]);
          if (pending.length < CLIENT_PREFACE.length) return;
          chunk = pending.subarray(CLIENT_PREFACE.length);
          this.preface = false;
        }
        try {
          this.splitter.push(chunk, (_b, f) => {
            this.frames.push({
              type: f.type,
              flags: f.flags,
              streamId: f.streamId,
              payload: Buffer.from(f.payload),
            });
          });
        } catch {
          socket.destroy();
        }
        this.wake();
      });
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        this.wake();
        resolve();
      }),
    );
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  send(bytes: Buffer): boolean {
    return this.socket.write(bytes);
  }

  /** Sends a header block on `streamId`. */
  headers(streamId: number, fields: HeaderField[], endStream = false): void {
    for (const f of encodeHeaderBlock(streamId, this.encoder.encode(fields), endStream ? Flag.END_STREAM : 0))
      this.send(f);
  }

  data(streamId: number, payload: Buffer, endStream = false): boolean {
    return this.send(encodeFrame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, payload));
  }

  /** Decodes a received header block (HEADERS without CONTINUATION) with this peer's decoder. */
  decode(frame: Frame): HeaderField[] {
    return this.decoder.decode(frame.payload);
  }

  /** Resolves with the first received frame `match` accepts, or undefined once the connection closed. */
  async waitFor(match: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(match);
      if (found || this.isClosed) return found;
      if (Date.now() > deadline) throw new Error('raw peer: timed out waiting for a frame');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves true once the connection closed, false if it is still open after `timeoutMs`. */
  async closesWithin(timeoutMs: number): Promise<boolean> {
    const timer = new Promise<false>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
    return Promise.race([this.closed.then(() => true as const), timer]);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Connects to `path`; unless `preface` is false, sends the client preface and an empty SETTINGS. */
export async function rawClient(
  path: string,
  options: {
    preface?: boolean;
    settings?: ReadonlyArray<readonly [number, number]>;
    /** false: never read what criguard sends (a client that stalls). */
    read?: boolean;
  } = {},
): Promise<RawPeer> {
  const socket = createConnection(path);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const peer = new RawPeer(socket, false, options.read ?? true);
  if (options.preface !== false) peer.send(Buffer.concat([CLIENT_PREFACE, encodeSettings(options.settings)]));
  return peer;
}

/** A raw server on `path`; `onPeer` gets each connection once its client preface arrived. */
export async function rawServer(
  path: string,
  onPeer: (peer: RawPeer) => void,
): Promise<Server & { peers: RawPeer[] }> {
  const peers: RawPeer[] = [];
  const server = createServer((socket) => {
    const peer = new RawPeer(socket, true);
    peers.push(peer);
    onPeer(peer);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return Object.assign(server, { peers });
}

/** The request headers of a gRPC call to `path`. */
export function grpcRequestHeaders(path: string): HeaderField[] {
  return [
    { name: ':method', value: 'POST', neverIndex: false },
    { name: ':scheme', value: 'http', neverIndex: false },
    { name: ':path', value: path, neverIndex: false },
    { name: ':authority', value: 'localhost', neverIndex: false },
    { name: 'content-type', value: 'application/grpc', neverIndex: false },
    { name: 'te', value: 'trailers', neverIndex: false },
  ];
}

/** A length-prefixed, uncompressed gRPC message. */
export function grpcMessage(body: Buffer = Buffer.alloc(0)): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}
