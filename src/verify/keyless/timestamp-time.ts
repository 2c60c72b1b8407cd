import type { RFC3161Timestamp } from '@sigstore/core';
import { VerificationError } from '@sigstore/verify';

/**
 * An RFC 3161 TSTInfo genTime: `YYYYMMDDhhmmss[.f...]Z`. The fraction of a second may have any number of
 * digits; DER (X.690 11.7.3), which RFC 3161 requires, drops its trailing zeros, so a TSA stamping at
 * 12:00:00.120 writes `.12` and at 12:00:00.500 writes `.5`. Up to 9 digits (nanoseconds) are accepted.
 */
const GEN_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,9}))?Z$/;

/**
 * The instant a GeneralizedTime names, to the millisecond (finer digits are dropped), or undefined when it
 * is not a valid UTC GeneralizedTime (wrong shape, no `Z`, a comma, month 13, February 30, second 60).
 */
export function parseGeneralizedTime(text: string): Date | undefined {
  const m = GEN_TIME.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const millisecond = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second, millisecond));
  date.setUTCFullYear(year); // Date.UTC maps years 0-99 to 1900-1999
  const exact =
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second;
  return exact ? date : undefined;
}

/**
 * Makes `timestamp.signingTime` (what sigstore-js checks against the timestamp authorities' and the
 * certificates' validity) read genTime as RFC 3161 writes it. @sigstore/core's own parser accepts no
 * fraction or exactly three digits only, so it refused valid timestamps stamped at a tenth or hundredth of
 * a second (`.5`, `.12`: one in ten of a sub-second TSA's stamps) or finer than a millisecond, reporting a
 * certificate error. A genTime that is not a valid GeneralizedTime is a TIMESTAMP_ERROR. Defined on the
 * object criguard hands to sigstore-js, never on its prototype (like certificate-cost.ts, ADR 0018).
 */
export function prepareTimestamp(timestamp: RFC3161Timestamp): void {
  Object.defineProperty(timestamp, 'signingTime', {
    configurable: true,
    enumerable: false,
    get: (): Date => genTimeOf(timestamp),
  });
}

function genTimeOf(timestamp: RFC3161Timestamp): Date {
  let date: Date | undefined;
  try {
    const node = timestamp.tstInfo.root.subs[4];
    if (node?.tag.isGeneralizedTime() === true) date = parseGeneralizedTime(node.value.toString('latin1'));
  } catch {
    date = undefined;
  }
  if (date === undefined) {
    throw new VerificationError({ code: 'TIMESTAMP_ERROR', message: 'the timestamp’s genTime is malformed' });
  }
  return date;
}
