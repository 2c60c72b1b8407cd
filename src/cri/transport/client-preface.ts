import { CLIENT_PREFACE, Http2ProtocolError } from './frames.js';

/**
 * Reads the HTTP/2 client connection preface (RFC 9113 §3.4) off the start of a connection. Pure.
 *
 * Contract: `push(chunk)` returns `undefined` while the preface is incomplete, then, once, the bytes that
 * followed it (possibly empty); later pushes must not happen. A byte that departs from the preface
 * throws Http2ProtocolError at once. At most the preface's 24 bytes are kept.
 */
export class ClientPreface {
  private have: Buffer | undefined = Buffer.alloc(0);

  /** Whether the whole preface arrived. */
  get received(): boolean {
    return this.have === undefined;
  }

  /** Bytes of an incomplete preface kept so far. */
  get buffered(): number {
    return this.have?.length ?? 0;
  }

  push(chunk: Buffer): Buffer | undefined {
    const have = Buffer.concat([this.have ?? Buffer.alloc(0), chunk]);
    if (have.length < CLIENT_PREFACE.length) {
      if (!CLIENT_PREFACE.subarray(0, have.length).equals(have)) throw new Http2ProtocolError('bad preface');
      this.have = have;
      return undefined;
    }
    if (!have.subarray(0, CLIENT_PREFACE.length).equals(CLIENT_PREFACE))
      throw new Http2ProtocolError('bad preface');
    this.have = undefined;
    return have.subarray(CLIENT_PREFACE.length);
  }
}
