/** A bounded in-memory map of bearer tokens with expiries, read through an injected clock. */
export interface TokenCache {
  get(key: string): string | undefined;
  set(key: string, token: string, expiresAt: number): void;
}

/**
 * Creates a token cache of at most `maxEntries` (oldest evicted first). Entries are returned only while
 * `now() < expiresAt`. Keys should not contain secrets (callers hash credentials into them).
 */
export function createTokenCache(now: () => number, maxEntries = 512): TokenCache {
  const entries = new Map<string, { token: string; expiresAt: number }>();
  return {
    get(key) {
      const e = entries.get(key);
      if (e === undefined) return undefined;
      if (now() >= e.expiresAt) {
        entries.delete(key);
        return undefined;
      }
      return e.token;
    },
    set(key, token, expiresAt) {
      entries.delete(key);
      entries.set(key, { token, expiresAt });
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest === undefined) break;
        entries.delete(oldest);
      }
    },
  };
}
