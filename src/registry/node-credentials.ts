import type { CredentialProviders } from './credential-provider.js';
import type { RegistryCredentials } from './credentials.js';
import { dockerConfigCredentials, readDockerConfig } from './docker-config.js';

/**
 * The node's own registry credentials, for fetches the kubelet sends none with (CreateContainer,
 * re-validation, `criguard verify`), in the kubelet's order: its credential provider plugins, then the
 * Docker `config.json` it reads. Credentials are returned for one image's registry and held in memory only.
 */
export interface NodeCredentials {
  /** Credentials for `image` (`host[:port]/path`), or undefined. Never rejects. */
  lookup(image: string, signal: AbortSignal): Promise<RegistryCredentials | undefined>;
}

/** Options of createNodeCredentials. */
export interface NodeCredentialsOptions {
  readonly providers?: CredentialProviders | undefined;
  /** config.json files in the kubelet's order (the first found is used); [] reads none. */
  readonly dockerConfigFiles: readonly string[];
  readonly clock: () => number;
  /** How long a read config.json is reused (default 60 s). */
  readonly dockerConfigTtlMs?: number;
}

export function createNodeCredentials(options: NodeCredentialsOptions): NodeCredentials {
  let docker: { at: number; auths: Promise<Array<readonly [string, RegistryCredentials]>> } | undefined;
  const ttl = options.dockerConfigTtlMs ?? 60_000;
  return {
    async lookup(image, signal) {
      try {
        const fromPlugin = await options.providers?.lookup(image, signal);
        if (fromPlugin !== undefined) return fromPlugin;
      } catch {
        // a plugin failure is reported by the providers; fall through to config.json
      }
      if (options.dockerConfigFiles.length === 0) return undefined;
      const now = options.clock();
      if (docker === undefined || now - docker.at >= ttl) {
        docker = { at: now, auths: readDockerConfig(options.dockerConfigFiles) };
      }
      return dockerConfigCredentials(await docker.auths, image);
    },
  };
}
