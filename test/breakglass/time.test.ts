import test from 'ava';
import { formatDuration, parseDuration } from '../../src/breakglass/duration.js';
import { parseRfc3339 } from '../../src/documents/rfc3339.js';

const M = 60_000;
const durations: [string, number | undefined][] = [
  ['90m', 90 * M],
  ['2h', 120 * M],
  ['1h30m', 90 * M],
  ['45s', 45_000],
  ['1h0m30s', 60 * M + 30_000],
  ['', undefined],
  ['0h', undefined],
  ['2', undefined],
  ['30m1h', undefined],
  ['1.5h', undefined],
  ['-1h', undefined],
  ['1d', undefined],
  [' 2h', undefined],
  ['2H', undefined],
  ['99999999999h', undefined],
];
for (const [text, ms] of durations) {
  test(`duration ${JSON.stringify(text)}${ms === undefined ? '_fail' : ''}`, (t) => {
    t.is(parseDuration(text), ms);
  });
}

test('formatDuration round-trips', (t) => {
  for (const ms of [90 * M, 120 * M, 45_000, 24 * 60 * M]) t.is(parseDuration(formatDuration(ms)), ms);
});

const stamps: [string, number | undefined][] = [
  ['2025-06-01T12:00:00Z', Date.UTC(2025, 5, 1, 12)],
  ['2025-06-01t12:00:00z', Date.UTC(2025, 5, 1, 12)],
  ['2025-06-01T14:00:00+02:00', Date.UTC(2025, 5, 1, 12)],
  ['2025-06-01T12:00:00.250Z', Date.UTC(2025, 5, 1, 12, 0, 0, 250)],
  ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
  ['2025-02-29T00:00:00Z', undefined],
  ['2025-02-30T00:00:00Z', undefined],
  ['2025-13-01T00:00:00Z', undefined],
  ['2025-06-01T24:00:00Z', undefined],
  ['2025-06-01T12:00:60Z', undefined],
  ['2025-06-01T12:00:00', undefined],
  ['2025-06-01 12:00:00Z', undefined],
  ['2025-06-01', undefined],
  ['1748779200', undefined],
  ['tomorrow', undefined],
];
for (const [text, ms] of stamps) {
  test(`rfc3339 ${text}${ms === undefined ? '_fail' : ''}`, (t) => {
    t.is(parseRfc3339(text), ms);
  });
}
