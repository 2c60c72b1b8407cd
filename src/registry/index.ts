export { createRegistryClient, digestOf, parseJson } from './registry-client.js';
export type {
  FetchedManifest,
  ManifestDescriptor,
  OciDescriptor,
  RegistryCallOptions,
  RegistryClient,
  RegistryClientOptions,
  RegistryLimits,
} from './registry-client.js';
export type { RegistryCredentials } from './credentials.js';
export { RegistryError, hasRegistryCode } from './errors.js';
export type { RegistryErrorCode } from './errors.js';
export type { RegistryHostSettings } from './hosts.js';
export { isLoopbackHost } from './hosts.js';
export { parseWwwAuthenticate } from './www-authenticate.js';
export type { AuthChallenge } from './www-authenticate.js';
export * from './media-types.js';
