/**
 * Registry credentials as the kubelet passes them in a PullImageRequest's AuthConfig. Given per call for
 * one registry host and used only for that host (see docs/adr/0040-registry-client-credentials-and-transport.md).
 */
export interface RegistryCredentials {
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** base64 of `username:password`. */
  readonly auth?: string | undefined;
  /** An OAuth2 refresh token, exchanged at the token realm. */
  readonly identityToken?: string | undefined;
  /** A bearer token sent to the registry as is. */
  readonly registryToken?: string | undefined;
}

/** `user:password` pair from credentials (explicit fields first, else `auth`), or undefined. */
export function toUserPassword(
  c: RegistryCredentials | undefined,
): { user: string; password: string } | undefined {
  if (c === undefined) return undefined;
  if (c.username) return { user: c.username, password: c.password ?? '' };
  if (c.auth) {
    const decoded = Buffer.from(c.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}

/** `Basic …` header value for the credentials, or undefined when they hold no user/password. */
export function toBasicAuthorization(c: RegistryCredentials | undefined): string | undefined {
  const up = toUserPassword(c);
  return up === undefined
    ? undefined
    : `Basic ${Buffer.from(`${up.user}:${up.password}`).toString('base64')}`;
}

/** True when the credentials carry anything usable. */
export function hasCredentials(c: RegistryCredentials | undefined): boolean {
  return toUserPassword(c) !== undefined || Boolean(c?.identityToken) || Boolean(c?.registryToken);
}
