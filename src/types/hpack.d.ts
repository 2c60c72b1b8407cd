/** The parts of hpack.js (no bundled types) that criguard uses. */
declare module 'hpack.js' {
  interface Table {
    lookup(index: number): { name: string; value: string; nameSize: number };
    reverseLookup(name: string, value: string): number;
    add(name: string, value: string, nameSize: number, valueSize: number): void;
    updateSize(size: number): void;
    protocolMaxSize: number;
    maxSize: number;
    size: number;
  }
  interface Decoder {
    push(chunk: Buffer): void;
    isEmpty(): boolean;
    decodeBit(): number;
    decodeInt(): number;
    decodeStr(): number[];
  }
  interface Encoder {
    encodeBit(bit: number): void;
    encodeBits(bits: number, len: number): void;
    encodeInt(num: number): void;
    encodeStr(value: number[], huffman: boolean): void;
    render(): Buffer[];
  }
  const hpack: {
    table: { create(options: { maxSize: number; lookupDepth?: number }): Table };
    decoder: { create(): Decoder };
    encoder: { create(): Encoder };
    utils: { stringify(bytes: number[]): string; toArray(text: string): number[] };
  };
  export default hpack;
}
