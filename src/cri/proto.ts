import protobuf from 'protobufjs';
import { runtimeV1Descriptor } from './generated/runtime-v1.js';

/** The protobufjs root of criguard's CRI proto (built once from the generated descriptor). */
export const criRoot: protobuf.Root = protobuf.Root.fromJSON(runtimeV1Descriptor);

const conversion: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  defaults: true,
  bytes: Buffer,
};

/**
 * Decodes a copy of a CRI message of type `typeName` (e.g. "PullImageRequest") into a plain object with
 * default values filled in. Unknown fields are skipped: never re-encode the result for forwarding.
 * Throws protobufjs' error on malformed bytes.
 */
export function decodeCriMessage<T>(typeName: string, bytes: Uint8Array): T {
  const type = criRoot.lookupType(`runtime.v1.${typeName}`);
  return type.toObject(type.decode(bytes), conversion) as T;
}

/** Encodes a plain object as CRI message `typeName` (for tests and criguard's own calls). */
export function encodeCriMessage(typeName: string, value: Record<string, unknown>): Buffer {
  const type = criRoot.lookupType(`runtime.v1.${typeName}`);
  return Buffer.from(type.encode(type.fromObject(value)).finish());
}
