import test from 'ava';
import { parseGeneralizedTime } from '../../src/verify/keyless/timestamp-time.js';

const iso = (text: string): string | undefined => parseGeneralizedTime(text)?.toISOString();

test('genTime: DER fractions of any length up to nanoseconds, to the millisecond', (t) => {
  t.is(iso('20261202010203Z'), '2026-12-02T01:02:03.000Z');
  t.is(iso('20261202010203.5Z'), '2026-12-02T01:02:03.500Z');
  t.is(iso('20261202010203.12Z'), '2026-12-02T01:02:03.120Z');
  t.is(iso('20261202010203.005Z'), '2026-12-02T01:02:03.005Z');
  t.is(iso('20261202010203.999Z'), '2026-12-02T01:02:03.999Z');
  t.is(iso('20261202010203.123456789Z'), '2026-12-02T01:02:03.123Z');
  t.is(iso('20240229235959Z'), '2024-02-29T23:59:59.000Z');
  t.is(iso('00500101000000Z'), '0050-01-01T00:00:00.000Z');
});

test('genTime: anything that is not a UTC GeneralizedTime is refused', (t) => {
  for (const text of [
    '',
    '261202010203Z', // UTCTime's two-digit year
    '20261202010203', // no Z
    '20261202010203+0100',
    '20261202010203,5Z', // comma
    '20261202010203.Z',
    '20261202010203.1234567890Z', // finer than nanoseconds
    '20261302010203Z', // month 13
    '20230229010203Z', // not a leap year
    '20261202240000Z',
    '20261202016003Z',
    '20261202010260Z', // leap second
    '2026120201020Z',
    ' 20261202010203Z',
    '２0261202010203Z',
  ]) {
    t.is(parseGeneralizedTime(text), undefined, text);
  }
});
