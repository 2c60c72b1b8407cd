import { registryTurns } from '../scheduling/loop-turns.js';
import { RegistryError } from './errors.js';
import type { ResponseBody } from './transport.js';

/** What the body reader needs of a response. */
export interface BodyLike {
  readonly headers: { get(name: string): string | null };
  readonly body: ResponseBody;
}

/**
 * Reads a response body of at most `max` bytes into memory, streaming: a larger `Content-Length` is
 * refused before reading, and the stream is cancelled as soon as the running total passes `max`.
 * Throws RegistryError `CG_ERR_REGISTRY_LIMIT` (over the cap) or `CG_ERR_REGISTRY_UNAVAILABLE` (the
 * stream failed or was aborted).
 */
export async function readBoundedBody(res: BodyLike, max: number, what: string): Promise<Uint8Array> {
  const declared = res.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > max) {
    await res.body.cancel().catch(() => undefined);
    throw new RegistryError('CG_ERR_REGISTRY_LIMIT', `${what}: ${declared} bytes (limit ${max})`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const value of res.body) {
      total += value.byteLength;
      if (total > max) {
        await res.body.cancel().catch(() => undefined);
        throw new RegistryError('CG_ERR_REGISTRY_LIMIT', `${what}: over ${max} bytes`);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof RegistryError) throw err;
    throw new RegistryError('CG_ERR_REGISTRY_UNAVAILABLE', `${what}: reading the body failed`, {
      cause: err,
    });
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  // What the caller does with the body (parse, hash, verify, ask the next) runs in a turn of its own, after
  // the CRI frames that arrived meanwhile (ADR 0009, the storm addendum).
  await registryTurns.next();
  return out;
}

/** Bodies up to this size are read to the end when discarded, so the connection can be reused. */
const DRAIN_LIMIT = 64 * 1024;

/**
 * Discards a body. Small ones (error pages, 404s) are read to the end so the connection goes back to the
 * pool; larger or unknown-length ones past 64 KiB are cancelled (which closes it). Never throws.
 */
export async function discardBody(res: BodyLike): Promise<void> {
  try {
    await readBoundedBody(res, DRAIN_LIMIT, 'discarded body');
  } catch {
    /* cancelled past the limit, or the stream failed: nothing to free */
  }
}
