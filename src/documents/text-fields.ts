import { z } from 'zod';
import { parseRfc3339 } from './rfc3339.js';

/**
 * Printable text on one line, trimmed, 1 to `max` characters: control characters (C0, DEL, C1, and the
 * Unicode line and paragraph separators) would let a reason forge lines in text logs.
 */
export const oneLine = (max: number) =>
  z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(max, `at most ${max} characters`)
    .refine((s) => !hasControlCharacter(s), 'control characters are not allowed');

function hasControlCharacter(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029) return true;
  }
  return false;
}

/** An RFC 3339 timestamp with an offset, kept as written. */
export const timestamp = z
  .string()
  .refine((s) => parseRfc3339(s) !== undefined, 'not an RFC 3339 timestamp with an offset');
