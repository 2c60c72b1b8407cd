import { join } from 'node:path';
import type { EvidenceSource } from '../admission/ports.js';
import { createDiskCacheSource } from '../attestations/disk-cache-source.js';
import { createLocalDirectorySource } from '../attestations/local-directory-source.js';
import { createRegistrySource } from '../attestations/registry-source.js';
import type { ServeConfig } from '../config/serve-config.js';
import type { Logger } from '../log/logger.js';
import type { NodeCredentials } from '../registry/node-credentials.js';
import type { RegistryClient } from '../registry/registry-client.js';

/**
 * The daemon's evidence sources, in order: the offline directory first (air-gapped nodes need nothing
 * else), then the registry's cosign signatures and Sigstore bundles, each behind its on-disk cache.
 * `diskCache`: `read-write` for the daemon; `read-only` for tools that must see what the daemon would
 * see without changing its state (`policy simulate`); `off` when the state directory is unsafe.
 */
export function createEvidence(
  config: ServeConfig,
  registry: RegistryClient,
  logger: Logger,
  nodeCredentials: NodeCredentials,
  diskCache: 'read-write' | 'read-only' | 'off',
): EvidenceSource[] {
  const sources: EvidenceSource[] = [];
  if (config.attestationsDir !== undefined) {
    sources.push(
      createLocalDirectorySource({
        dir: config.attestationsDir,
        onSkipped: (path, code) => logger.warn({ path, code }, 'attestation file skipped'),
      }),
    );
  }
  // cosign's `.sig` signatures first, then Sigstore bundles (fetched at the same time, weighed only if
  // the rule still lacks evidence). Each has its own on-disk cache, answering while the registry is unreachable (or, for
  // CreateContainer, which carries no credentials, refuses anonymous access).
  for (const format of ['cosign', 'bundles'] as const) {
    const remote = createRegistrySource({
      client: registry,
      cosignLegacy: format === 'cosign',
      sigstoreBundles: format === 'bundles',
      onSkipped: (where, code) => logger.warn({ where, code }, 'registry attestation skipped'),
      // Where the kubelet sent no credentials (CreateContainer, re-validation), the node's own.
      fallbackCredentials: (name, signal) => nodeCredentials.lookup(name, signal),
      // Bundles are fetched together with the cosign signatures (independent requests), and weighed after.
      overlap: format === 'bundles',
    });
    // An unsafe state directory: no on-disk evidence is read or written.
    if (diskCache === 'off') {
      sources.push(remote);
      continue;
    }
    sources.push(
      createDiskCacheSource({
        source: remote,
        dir: join(config.stateDir, 'attestations', format),
        fallbackCodes: ['CG_ERR_REGISTRY_UNAVAILABLE'],
        // Kubelet's credentials: the registry's answer is authoritative. Without them (the node's own, or
        // anonymous), a denial falls back to the cache too, and an anonymous "nothing" counts only when the
        // registry serves the image itself (issue 12, item 13).
        emptyIsAuthoritative: true,
        withoutCredentials: {
          fallbackCodes: ['CG_ERR_REGISTRY_UNAVAILABLE', 'CG_ERR_REGISTRY_DENIED'],
          emptyIsAuthoritative: (name, digest, signal) => remote.servesImage(name, digest, signal),
        },
        onEvent: (event, digest) => logger.info({ event, digest }, 'attestation cache'),
        readOnly: diskCache === 'read-only',
      }),
    );
  }
  return sources;
}
