import hpack from 'hpack.js';
import { ErrorCode, Http2ProtocolError } from './frames.js';

/** One header field. Strings hold bytes as latin1 code units, so any byte sequence round-trips. */
export interface HeaderField {
  name: string;
  value: string;
  /** Sent as "never indexed" (RFC 7541 §6.2.3): kept so when re-encoding (credentials stay un-indexed). */
  neverIndex: boolean;
}

/** HPACK's default and the size criguard's encoders use at most (RFC 9113 §6.5.2). */
export const DEFAULT_TABLE_SIZE = 4096;
/** The largest dynamic table a decoder keeps, whatever either peer announced. */
export const MAX_DECODER_TABLE_SIZE = 64 * 1024;

/**
 * Decodes header blocks arriving on one connection leg, keeping that leg's dynamic table (RFC 7541).
 * Bit-level work (integers, Huffman, static table) is hpack.js's. Throws Http2ProtocolError
 * (COMPRESSION_ERROR) on a malformed block or one whose decoded size exceeds `maxListSize`.
 */
export class HeaderBlockDecoder {
  private readonly table = hpack.table.create({ maxSize: DEFAULT_TABLE_SIZE });

  constructor(private readonly maxListSize: number) {}

  /**
   * The peer on the other side announced a larger SETTINGS_HEADER_TABLE_SIZE; accept updates up to it,
   * but never above MAX_DECODER_TABLE_SIZE (what a peer announces must not size criguard's memory).
   */
  allowTableSize(size: number): void {
    this.table.protocolMaxSize = Math.max(this.table.protocolMaxSize, Math.min(size, MAX_DECODER_TABLE_SIZE));
  }

  decode(block: Buffer): HeaderField[] {
    const decoder = hpack.decoder.create();
    decoder.push(block);
    const fields: HeaderField[] = [];
    let listSize = 0;
    try {
      while (!decoder.isEmpty()) {
        if (decoder.decodeBit()) {
          const entry = this.table.lookup(decoder.decodeInt());
          fields.push({ name: entry.name, value: entry.value, neverIndex: false });
        } else {
          const incremental = decoder.decodeBit();
          let neverIndex = false;
          if (!incremental) {
            if (decoder.decodeBit()) {
              this.table.updateSize(decoder.decodeInt());
              continue;
            }
            neverIndex = decoder.decodeBit() === 1;
          }
          const index = decoder.decodeInt();
          let name: string;
          let nameSize: number;
          if (index === 0) {
            const raw = decoder.decodeStr();
            nameSize = raw.length;
            name = hpack.utils.stringify(raw);
          } else {
            const entry = this.table.lookup(index);
            name = entry.name;
            nameSize = entry.nameSize;
          }
          const rawValue = decoder.decodeStr();
          const value = hpack.utils.stringify(rawValue);
          if (incremental) this.table.add(name, value, nameSize, rawValue.length);
          fields.push({ name, value, neverIndex });
        }
        const last = fields[fields.length - 1]!;
        listSize += last.name.length + last.value.length + 32;
        if (listSize > this.maxListSize) {
          throw new Http2ProtocolError('header list too large', ErrorCode.ENHANCE_YOUR_CALM);
        }
      }
    } catch (err) {
      if (err instanceof Http2ProtocolError) throw err;
      throw new Http2ProtocolError(
        `bad header block: ${(err as Error).message}`,
        ErrorCode.COMPRESSION_ERROR,
      );
    }
    return fields;
  }
}

/**
 * Encodes header blocks sent on one connection leg, with that leg's own dynamic table. Never-indexed
 * fields stay never-indexed; everything else may be indexed (hpack.js's reverse lookup, 32 entries deep).
 */
export class HeaderBlockEncoder {
  private table = hpack.table.create({ maxSize: DEFAULT_TABLE_SIZE });
  private pendingSizeUpdate: number | undefined;

  /** The receiving peer announced SETTINGS_HEADER_TABLE_SIZE; criguard uses min(announced, 4096). */
  setPeerTableSize(size: number): void {
    const next = Math.min(size, DEFAULT_TABLE_SIZE);
    if (next === this.table.maxSize) return;
    this.table = hpack.table.create({ maxSize: next });
    this.pendingSizeUpdate = next;
  }

  encode(fields: readonly HeaderField[]): Buffer {
    const encoder = hpack.encoder.create();
    if (this.pendingSizeUpdate !== undefined) {
      // Empty the peer's table, then announce the size this encoder now uses (RFC 7541 §6.3).
      encoder.encodeBits(1, 3);
      encoder.encodeInt(0);
      encoder.encodeBits(1, 3);
      encoder.encodeInt(this.pendingSizeUpdate);
      this.pendingSizeUpdate = undefined;
    }
    for (const field of fields) this.encodeField(encoder, field);
    const parts = encoder.render();
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  private encodeField(encoder: ReturnType<typeof hpack.encoder.create>, field: HeaderField): void {
    const index = field.neverIndex ? 0 : this.table.reverseLookup(field.name, field.value);
    if (index > 0) {
      encoder.encodeBit(1);
      encoder.encodeInt(index);
      return;
    }
    const name = hpack.utils.toArray(field.name);
    const value = hpack.utils.toArray(field.value);
    encoder.encodeBit(0); // a literal
    if (field.neverIndex) {
      encoder.encodeBit(0); // not incremental
      encoder.encodeBit(0); // not a table size update
      encoder.encodeBit(1); // never indexed
    } else {
      encoder.encodeBit(1); // literal with incremental indexing
      this.table.add(field.name, field.value, name.length, value.length);
    }
    encoder.encodeInt(-index); // a negative index names a field whose name is in a table
    if (index === 0) encoder.encodeStr(name, true);
    encoder.encodeStr(value, true);
  }
}
