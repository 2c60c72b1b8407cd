import { join } from 'node:path';
import type { DigestResolver, PlatformResolver } from '../admission/ports.js';
import { createManifestStore } from '../attestations/manifest-store.js';
import type { ServeConfig } from '../config/serve-config.js';
import { readRegularFileSync } from '../files/read-regular-file.js';
import type { Logger } from '../log/logger.js';
import { createCredentialProviders, loadCredentialProviderConfig } from '../registry/credential-provider.js';
import type { CredentialProviders } from '../registry/credential-provider.js';
import { manifestImageId } from '../registry/manifest-image-id.js';
import { createNodeCredentials } from '../registry/node-credentials.js';
import type { NodeCredentials } from '../registry/node-credentials.js';
import { createPlatformManifestResolver } from '../registry/platform-manifest.js';
import { createRegistryClient, type RegistryClient } from '../registry/registry-client.js';

/**
 * The registry client of the serve settings. With `nodeCredentials`, a mirror of hosts.toml is asked with
 * the node's credentials for the mirror's own host (containerd's per-host auth).
 */
export function createRegistry(
  config: ServeConfig,
  logger: Logger,
  nodeCredentials?: NodeCredentials,
): RegistryClient {
  const caCertificates = config.registryCaFiles.map((file) => {
    try {
      return readRegularFileSync(file, { maxBytes: 1024 * 1024 }).bytes.toString('utf8');
    } catch (err) {
      logger.error({ file, err: (err as Error).message }, 'registry CA file unreadable; ignored');
      return '';
    }
  });
  return createRegistryClient({
    hosts: config.registries,
    caCertificates: caCertificates.filter((c) => c !== ''),
    timeoutMs: config.verifyTimeoutSeconds * 1000,
    registryHostsDir: config.registryHostsDir,
    mirrorCredentials:
      nodeCredentials === undefined ? undefined : (image, signal) => nodeCredentials.lookup(image, signal),
  });
}

/**
 * The node's credentials (kubelet credential provider plugins, then its config.json), for fetches the
 * kubelet sends none with. A broken plugin configuration is logged and leaves config.json in use.
 */
export function createNodeCredentialsFromConfig(config: ServeConfig, logger: Logger): NodeCredentials {
  const n = config.nodeCredentials;
  let providers: CredentialProviders | undefined;
  if (n.credentialProviderConfig !== undefined && n.credentialProviderBinDir !== undefined) {
    try {
      providers = createCredentialProviders({
        providers: loadCredentialProviderConfig(n.credentialProviderConfig),
        binDir: n.credentialProviderBinDir,
        clock: Date.now,
        onError: (provider, reason) => logger.warn({ provider, reason }, 'credential provider plugin failed'),
      });
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'credential provider config unusable; plugins not used');
    }
  }
  return createNodeCredentials({ providers, dockerConfigFiles: n.dockerConfigFiles, clock: Date.now });
}

/**
 * Resolves a tag for admission: GETs and hashes the manifest (never trusts a header alone; a GET also keeps
 * the connection), with the kubelet's credentials or else the node's own; a single-platform manifest also
 * names the image id containerd will report.
 */
export function manifestResolver(registry: RegistryClient, nodeCredentials: NodeCredentials): DigestResolver {
  return {
    resolve: async (reference, credentials, signal) => {
      const manifest = await registry.getManifest(reference.name, reference.tag ?? 'latest', {
        credentials: credentials ?? (await nodeCredentials.lookup(reference.name, signal)),
        signal,
      });
      return { digest: manifest.digest, imageId: manifestImageId(manifest) };
    },
  };
}

/**
 * The manifest a multi-arch index holds for this node's platform: asked of the registry, remembered in the
 * state directory when it is safe (`persist`), and found among imported manifests (`criguard attestations
 * import`) so an air-gapped node finds its platform too.
 */
export function platformResolver(
  config: ServeConfig,
  registry: RegistryClient,
  persist: boolean,
): PlatformResolver {
  return createPlatformManifestResolver(
    registry,
    undefined,
    persist ? join(config.stateDir, 'platforms.json') : undefined,
    config.attestationsDir === undefined ? undefined : createManifestStore(config.attestationsDir),
  );
}
