/**
 * The kubelet's image matching for credentials (`matchImages` of credential provider plugins, the keys of a
 * Docker `config.json` and of a plugin's `auth` map): a pattern `[scheme://]host[:port][/path]` matches an
 * image `host[:port]/path…` when the hosts have as many dot-separated parts and each part matches its glob
 * (`*` any run of characters, `?` one character), the ports are equal (both absent, or the same), and the
 * image's path starts with the pattern's path.
 */

interface Parsed {
  readonly hostParts: readonly string[];
  readonly port: string;
  readonly path: string;
}

function parse(value: string): Parsed | undefined {
  const schemeless = value.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = schemeless.indexOf('/');
  const authority = slash < 0 ? schemeless : schemeless.slice(0, slash);
  const path = slash < 0 ? '' : schemeless.slice(slash);
  const m = /^([^:/]+)(?::(\d{1,5}))?$/.exec(authority);
  if (m === null) return undefined;
  return { hostParts: (m[1] ?? '').toLowerCase().split('.'), port: m[2] ?? '', path };
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** True when `pattern` matches `image` (a repository `host[:port]/path`, no tag or digest needed). */
export function imageMatches(pattern: string, image: string): boolean {
  const p = parse(pattern);
  const i = parse(image);
  if (p === undefined || i === undefined) return false;
  if (p.port !== i.port || p.hostParts.length !== i.hostParts.length) return false;
  if (!p.hostParts.every((part, k) => globToRegExp(part).test(i.hostParts[k] ?? ''))) return false;
  return i.path.startsWith(p.path);
}

/** The host (`host[:port]`, lower case) of an image or pattern, without scheme or path. */
export function imageHost(image: string): string {
  const schemeless = image.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = schemeless.indexOf('/');
  return (slash < 0 ? schemeless : schemeless.slice(0, slash)).toLowerCase();
}

/**
 * The entry of `entries` (pattern → value) that applies to `image`: the most specific matching pattern
 * (the longest one), as the kubelet's keyring prefers.
 */
export function bestMatch<T>(entries: Iterable<readonly [string, T]>, image: string): T | undefined {
  let best: { pattern: string; value: T } | undefined;
  for (const [pattern, value] of entries) {
    if (!imageMatches(pattern, image)) continue;
    if (best === undefined || pattern.length > best.pattern.length) best = { pattern, value };
  }
  return best?.value;
}
