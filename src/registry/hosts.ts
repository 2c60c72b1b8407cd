/** Per-registry settings, keyed by registry host as written in image references (`host[:port]`). */
export interface RegistryHostSettings {
  /** Talk plain HTTP to this registry (default: true for loopback hosts, false otherwise). */
  readonly plainHttp?: boolean;
  /**
   * Token realm hosts (`host[:port]`) besides the registry host itself that may receive this registry's
   * credentials (e.g. `auth.docker.io` for `docker.io`). Empty by default: see ADR 0040.
   */
  readonly credentialRealmHosts?: readonly string[];
}

/** `host[:port]` without the port. Brackets of IPv6 literals are kept. */
export function hostnameOf(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end < 0 ? host : host.slice(0, end + 1);
  }
  const colon = host.lastIndexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

/** True for `localhost`, `127.0.0.0/8` and `[::1]` (any port). */
export function isLoopbackHost(host: string): boolean {
  const name = hostnameOf(host).toLowerCase();
  return name === 'localhost' || name === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** The API host of a registry domain: Docker Hub's `docker.io` is served by `registry-1.docker.io`. */
export function apiHostOf(domain: string): string {
  return domain === 'docker.io' ? 'registry-1.docker.io' : domain;
}

/** Compiled per-host rules of a client. */
export interface HostRules {
  /** May `host` (`host[:port]`) be reached over plain HTTP? */
  plainHttpAllowed(host: string): boolean;
  /** May credentials for registry `domain` be sent to the token realm at `realmHost`? */
  mayReceiveCredentials(domain: string, realmHost: string): boolean;
}

/** Builds the host rules from per-registry settings (keys compared case-insensitively). */
export function createHostRules(settings: Readonly<Record<string, RegistryHostSettings>> = {}): HostRules {
  const table = new Map(Object.entries(settings).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    plainHttpAllowed(host) {
      const s = table.get(host.toLowerCase());
      return s?.plainHttp ?? isLoopbackHost(host);
    },
    mayReceiveCredentials(domain, realmHost) {
      const realm = realmHost.toLowerCase();
      if (realm === apiHostOf(domain).toLowerCase()) return true;
      return (table.get(domain.toLowerCase())?.credentialRealmHosts ?? []).some(
        (h) => h.toLowerCase() === realm,
      );
    },
  };
}
