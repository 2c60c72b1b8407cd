import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { isLoopbackHost } from './hosts.js';
import { CriguardError } from '../errors/criguard-error.js';

/**
 * containerd's registry host configuration (`config_path`, a directory of `<host>/hosts.toml`), read as
 * containerd reads it: the `[host."…"]` entries in file order, then the `server` (the registry itself when
 * absent), each with `capabilities` (default pull, resolve, push), `ca`, `client`, `skip_verify`,
 * `override_path` and `header`. The endpoint list for a registry is what containerd tries, in that order.
 */

/** What an endpoint may be used for (containerd's host capabilities). */
export interface EndpointCapabilities {
  readonly pull: boolean;
  readonly resolve: boolean;
  readonly push: boolean;
}

/** TLS settings of one endpoint (file contents, read when the configuration is loaded). */
export interface EndpointTls {
  /** Extra CA certificates (PEM). */
  readonly ca?: readonly string[] | undefined;
  /** Client certificate and key (PEM). */
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  /** skip_verify: do not verify the server certificate. */
  readonly skipVerify?: boolean | undefined;
}

/** One endpoint to try for a registry. */
export interface RegistryEndpoint {
  /** `scheme://host[:port]/…/v2` (no trailing slash): the API root; repositories go below it. */
  readonly api: string;
  /** `host[:port]` of the endpoint. */
  readonly host: string;
  readonly capabilities: EndpointCapabilities;
  readonly tls: EndpointTls | undefined;
  /** The registry itself (`server`, or its default), as opposed to a mirror. */
  readonly upstream: boolean;
  /**
   * hosts.toml `header` entries: sent with every request to this endpoint (its origin only: not after a
   * redirect elsewhere, not to a token service). Values may be secrets: never logged. Several values of
   * one header are joined with ", ".
   */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** containerd's default configuration directory. */
export const DEFAULT_REGISTRY_HOSTS_DIR = '/etc/containerd/certs.d';

const MAX_HOSTS_FILE_BYTES = 64 * 1024;
const MAX_HOSTS = 16;
const MAX_HEADERS = 32;
const MAX_HEADER_VALUE = 8192;
/** RFC 9110 token. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
/** Headers the client itself sets for the protocol to work; hosts.toml may not replace them. */
const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'accept',
  'user-agent',
  'upgrade',
  'te',
  'trailer',
  'keep-alive',
  'proxy-connection',
]);
const ALL: EndpointCapabilities = Object.freeze({ pull: true, resolve: true, push: true });

/** Thrown for an unreadable or invalid hosts.toml (the caller denies: it cannot know where to look). */
export class RegistryHostsError extends CriguardError<'CG_ERR_REGISTRY_HOSTS_INVALID'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CG_ERR_REGISTRY_HOSTS_INVALID', message, options);
    this.name = 'RegistryHostsError';
  }
}

/**
 * The directory containerd uses for `registry` (`host[:port]`): `<dir>/<host>_<port>_` (ports only),
 * `<dir>/<host[:port]>`, then `<dir>/_default`; undefined when none exists.
 */
export function hostDirectory(dir: string, registry: string): string | undefined {
  const colon = registry.lastIndexOf(':');
  const candidates = [
    ...(colon > 0 && !registry.endsWith(']')
      ? [`${registry.slice(0, colon)}_${registry.slice(colon + 1)}_`]
      : []),
    registry,
    '_default',
  ];
  for (const c of candidates) {
    try {
      if (statSync(join(dir, c)).isDirectory()) return join(dir, c);
    } catch {
      // absent: try the next
    }
  }
  return undefined;
}

/**
 * The endpoints containerd would try for `registry` with the configuration in `dir`, in order. Without a
 * host directory (or hosts.toml), only the registry itself. Throws RegistryHostsError for an invalid file.
 */
export function registryEndpoints(dir: string | undefined, registry: string): RegistryEndpoint[] {
  const hostDir = dir === undefined ? undefined : hostDirectory(dir, registry);
  if (hostDir === undefined) return [defaultEndpoint(registry, undefined)];
  const file = join(hostDir, 'hosts.toml');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [defaultEndpoint(registry, undefined)];
    throw new RegistryHostsError(`${file}: unreadable`);
  }
  if (text.length > MAX_HOSTS_FILE_BYTES) throw new RegistryHostsError(`${file}: over 64 KiB`);
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch {
    throw new RegistryHostsError(`${file}: not TOML`);
  }
  const hosts = doc.host === undefined ? {} : doc.host;
  if (typeof hosts !== 'object' || hosts === null || Array.isArray(hosts)) {
    throw new RegistryHostsError(`${file}: host must be a table`);
  }
  const entries = Object.entries(hosts as Record<string, unknown>);
  if (entries.length > MAX_HOSTS) throw new RegistryHostsError(`${file}: over ${MAX_HOSTS} hosts`);
  const out = entries.map(([url, settings]) => endpoint(file, hostDir, url, settings, false));
  const server = doc.server;
  if (server !== undefined && typeof server !== 'string')
    throw new RegistryHostsError(`${file}: server must be a string`);
  out.push(
    server === undefined || server === ''
      ? defaultEndpoint(registry, settingsOf(file, hostDir, doc))
      : endpoint(file, hostDir, server, doc, true),
  );
  return out;
}

/** The registry itself: docker.io → registry-1.docker.io; loopback → plain HTTP; else HTTPS. */
function defaultEndpoint(registry: string, settings: Settings | undefined): RegistryEndpoint {
  const host = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
  const scheme = isLoopbackHost(registry) ? 'http' : 'https';
  return Object.freeze({
    api: `${scheme}://${host}/v2`,
    host,
    capabilities: settings?.capabilities ?? ALL,
    tls: settings?.tls,
    upstream: true,
    headers: settings?.headers,
  });
}

interface Settings {
  readonly capabilities: EndpointCapabilities;
  readonly tls: EndpointTls | undefined;
  readonly overridePath: boolean;
  readonly headers: Readonly<Record<string, string>> | undefined;
}

function endpoint(
  file: string,
  hostDir: string,
  raw: string,
  value: unknown,
  upstream: boolean,
): RegistryEndpoint {
  const settings = settingsOf(file, hostDir, value);
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`);
  } catch {
    throw new RegistryHostsError(`${file}: ${raw} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RegistryHostsError(`${file}: ${raw}: only http and https`);
  }
  let path = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '');
  if (!settings.overridePath && !path.endsWith('/v2')) path = `${path}/v2`;
  return Object.freeze({
    api: `${url.protocol}//${url.host}${path}`,
    host: url.host,
    capabilities: settings.capabilities,
    tls: settings.tls,
    upstream,
    headers: settings.headers,
  });
}

function settingsOf(file: string, hostDir: string, value: unknown): Settings {
  if (typeof value !== 'object' || value === null)
    throw new RegistryHostsError(`${file}: a host must be a table`);
  const v = value as Record<string, unknown>;
  let capabilities = ALL;
  if (v.capabilities !== undefined) {
    if (
      !Array.isArray(v.capabilities) ||
      !v.capabilities.every((c) => ['pull', 'resolve', 'push'].includes(c as string))
    ) {
      throw new RegistryHostsError(`${file}: capabilities are pull, resolve and push`);
    }
    const caps = v.capabilities as string[];
    capabilities = Object.freeze({
      pull: caps.includes('pull'),
      resolve: caps.includes('resolve'),
      push: caps.includes('push'),
    });
  }
  const read = (p: unknown): string => {
    if (typeof p !== 'string' || p === '')
      throw new RegistryHostsError(`${file}: a certificate path must be a string`);
    try {
      return readFileSync(isAbsolute(p) ? p : join(hostDir, p), 'utf8');
    } catch {
      throw new RegistryHostsError(`${file}: cannot read ${p}`);
    }
  };
  const ca = v.ca === undefined ? undefined : (Array.isArray(v.ca) ? v.ca : [v.ca]).map(read);
  let cert: string | undefined;
  let key: string | undefined;
  if (v.client !== undefined) {
    // "cert.pem", ["cert.pem", "key.pem"] or [["cert.pem", "key.pem"]]: containerd accepts the three forms.
    const first: unknown = Array.isArray(v.client) ? v.client[0] : v.client;
    const pair = Array.isArray(first) ? first : Array.isArray(v.client) ? v.client : [v.client];
    cert = read(pair[0]);
    key = pair[1] === undefined ? undefined : read(pair[1]);
  }
  if (v.skip_verify !== undefined && typeof v.skip_verify !== 'boolean') {
    throw new RegistryHostsError(`${file}: skip_verify must be true or false`);
  }
  if (v.override_path !== undefined && typeof v.override_path !== 'boolean') {
    throw new RegistryHostsError(`${file}: override_path must be true or false`);
  }
  const skipVerify = v.skip_verify === true ? true : undefined;
  const tls =
    ca === undefined && cert === undefined && skipVerify === undefined
      ? undefined
      : Object.freeze({ ca: ca === undefined ? undefined : Object.freeze(ca), cert, key, skipVerify });
  return { capabilities, tls, overridePath: v.override_path === true, headers: headersOf(file, v.header) };
}

/**
 * `header = { name = "value" }` or `{ name = ["v1", "v2"] }`, as containerd reads it. Names are HTTP
 * tokens (not one the client sets itself, such as Host or Accept), values printable ASCII (no CR, LF or other control characters);
 * at most 32 headers of 8 KiB. Error messages name the header, never its value.
 */
function headersOf(file: string, raw: unknown): Readonly<Record<string, string>> | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new RegistryHostsError(`${file}: header must be a table`);
  }
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > MAX_HEADERS) throw new RegistryHostsError(`${file}: over ${MAX_HEADERS} headers`);
  const out = Object.create(null) as Record<string, string>;
  for (const [name, value] of entries) {
    if (!HEADER_NAME.test(name) || RESERVED_HEADERS.has(name.toLowerCase())) {
      throw new RegistryHostsError(`${file}: header ${JSON.stringify(name.slice(0, 64))} may not be set`);
    }
    const values = Array.isArray(value) ? (value as unknown[]) : [value];
    if (values.length === 0 || !values.every((x) => typeof x === 'string' && /^[\t\x20-\x7e]*$/.test(x))) {
      throw new RegistryHostsError(`${file}: header ${name}: values are printable ASCII strings`);
    }
    const joined = (values as string[]).join(', ');
    if (joined.length > MAX_HEADER_VALUE) throw new RegistryHostsError(`${file}: header ${name} over 8 KiB`);
    const key = name.toLowerCase();
    out[key] = key in out ? `${out[key]}, ${joined}` : joined;
  }
  return Object.freeze(out);
}
