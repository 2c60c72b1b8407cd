/** One authentication challenge from a `WWW-Authenticate` header. */
export interface AuthChallenge {
  /** Lowercased scheme: `bearer`, `basic`, ... */
  readonly scheme: string;
  /** Parameters with lowercased names (`realm`, `service`, `scope`, ...). */
  readonly params: Readonly<Record<string, string>>;
}

const MAX_HEADER = 8 * 1024;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

/**
 * Parses a `WWW-Authenticate` header (RFC 7235: schemes with `name=value` or `name="quoted"` params,
 * several challenges separated by commas). Returns the challenges it could read, in order; malformed
 * input yields fewer (possibly none), never an exception. Headers over 8 KiB yield none.
 */
export function parseWwwAuthenticate(header: string | null | undefined): AuthChallenge[] {
  if (!header || header.length > MAX_HEADER) return [];
  const out: { scheme: string; params: Record<string, string> }[] = [];
  let i = 0;
  const skipSpace = (): void => {
    while (i < header.length && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  while (i < header.length) {
    skipSpace();
    if (header[i] === ',') {
      i++;
      continue;
    }
    const word = TOKEN.exec(header.slice(i))?.[0];
    if (word === undefined) break;
    i += word.length;
    skipSpace();
    if (header[i] === '=') {
      // a parameter of the current challenge
      i++;
      skipSpace();
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < header.length && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < header.length) i++;
          value += header[i];
          i++;
        }
        i++;
      } else {
        value = TOKEN.exec(header.slice(i))?.[0] ?? '';
        i += value.length;
      }
      const current = out[out.length - 1];
      if (current === undefined) break;
      const key = word.toLowerCase();
      if (!Object.hasOwn(current.params, key)) current.params[key] = value;
      skipSpace();
      if (header[i] === ',') i++;
      continue;
    }
    out.push({ scheme: word.toLowerCase(), params: Object.create(null) as Record<string, string> });
  }
  return out;
}
