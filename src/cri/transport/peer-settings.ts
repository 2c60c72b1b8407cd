import {
  DEFAULT_MAX_FRAME_SIZE,
  Http2ProtocolError,
  MAX_FRAME_PAYLOAD,
  Setting,
  decodeSettings,
} from './frames.js';
import type { Leg } from './leg.js';

/**
 * Applies the SETTINGS one peer sent (passed through unchanged) to criguard's own wire state. Only two
 * settings matter to criguard:
 * - SETTINGS_MAX_FRAME_SIZE: frames the other peer sends to this one may now be that large (RFC 9113
 *   §6.5.2); a value out of range is a protocol error. The limit is never lowered.
 * - SETTINGS_HEADER_TABLE_SIZE: the peer's decoder size. It binds criguard's encoder towards the peer,
 *   and the other peer's encoder towards criguard (so the other leg's decoder accepts that size).
 * Throws Http2ProtocolError on a malformed payload or a bad value.
 */
export function applyPeerSettings(
  payload: Buffer,
  peer: Pick<Leg, 'encoder'>,
  other: Pick<Leg, 'frames' | 'decoder'>,
): void {
  for (const [id, value] of decodeSettings(payload)) {
    if (id === Setting.MAX_FRAME_SIZE) {
      if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_FRAME_PAYLOAD) {
        throw new Http2ProtocolError(`SETTINGS_MAX_FRAME_SIZE ${value} is out of range`);
      }
      other.frames.maxPayload = Math.max(other.frames.maxPayload, value);
    }
    if (id === Setting.HEADER_TABLE_SIZE) {
      peer.encoder.setPeerTableSize(value);
      other.decoder.allowTableSize(value);
    }
  }
}
