const DURATION = /^(?:(\d{1,5})h)?(?:(\d{1,7})m)?(?:(\d{1,9})s)?$/;

/**
 * Parses a duration written as hours, minutes and seconds in that order (`90m`, `2h`, `1h30m`, `45s`)
 * into milliseconds. Returns undefined for anything else, including an empty string and a zero total.
 * Pure; never throws.
 */
export function parseDuration(text: string): number | undefined {
  if (text.length === 0 || text.length > 32) return undefined;
  const m = DURATION.exec(text);
  if (!m) return undefined;
  const [h, min, s] = [m[1], m[2], m[3]].map((v) => (v === undefined ? 0 : Number(v))) as [
    number,
    number,
    number,
  ];
  const ms = ((h * 60 + min) * 60 + s) * 1000;
  return ms > 0 ? ms : undefined;
}

/** Formats milliseconds as `1h30m`, `2h`, `45s` (the form parseDuration reads back). */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const text = `${h > 0 ? `${h}h` : ''}${m > 0 ? `${m}m` : ''}${s > 0 ? `${s}s` : ''}`;
  return text === '' ? '0s' : text;
}
