import type { ImageFacts, ImageLookup } from '../admission/ports.js';
import { createCriClient } from './client.js';

/**
 * criguard's own look-ups of containerd's images (ImageStatus) on a connection of its own. `lookup`
 * resolves to undefined when containerd has no such image and rejects (CG_ERR_UPSTREAM) when containerd
 * cannot answer.
 */
export function createContainerdImageLookup(upstreamSocket: string): ImageLookup & { close(): void } {
  const client = createCriClient(upstreamSocket, { deadlineMs: 30_000 });
  return {
    async lookup(image, signal) {
      if (signal.aborted) throw Object.assign(new Error('cancelled'), { code: 'CG_ERR_CANCELLED' });
      let response;
      try {
        response = await client.imageStatus({ image: { image } });
      } catch (err) {
        throw Object.assign(new Error(`containerd ImageStatus failed: ${(err as Error).message}`), {
          code: 'CG_ERR_UPSTREAM',
        });
      }
      const found = response.image;
      if (!found) return undefined;
      const facts: ImageFacts = {
        id: found.id,
        repoDigests: found.repo_digests ?? [],
        repoTags: found.repo_tags ?? [],
      };
      return facts;
    },
    close: () => client.close(),
  };
}
