import type { ImageFacts, ImageLookup } from '../admission/ports.js';
import type { ContainerLister, RunningContainer } from '../admission/revalidation.js';
import { createCriClient } from './client.js';

/**
 * criguard's own calls to containerd, on a connection of its own: image look-ups (ImageStatus; undefined
 * when containerd has no such image), running containers (ListContainers), and a liveness probe (Version).
 * Rejects with CG_ERR_UPSTREAM when containerd cannot answer.
 */
export function createContainerdClient(
  upstreamSocket: string,
): ImageLookup & ContainerLister & { ping(): Promise<boolean>; close(): void } {
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
    async listRunning() {
      let containers;
      let sandboxes;
      try {
        [containers, sandboxes] = await Promise.all([
          client.listContainers({ filter: { state: { state: 'CONTAINER_RUNNING' } } }),
          client.listPodSandbox({}),
        ]);
      } catch (err) {
        throw Object.assign(new Error(`containerd ListContainers failed: ${(err as Error).message}`), {
          code: 'CG_ERR_UPSTREAM',
        });
      }
      // The pod comes from the sandbox's metadata (what CreateContainer was judged under); the kubelet's
      // container labels are the fallback.
      const pods = new Map(sandboxes.items.map((p) => [p.id, p.metadata]));
      return containers.containers.map((c): RunningContainer => {
        const pod = pods.get(c.pod_sandbox_id);
        return {
          id: c.id,
          name: c.metadata?.name ?? '',
          image: c.image_ref || c.image?.image || '',
          namespace: pod?.namespace ?? c.labels?.['io.kubernetes.pod.namespace'] ?? '',
          podName: pod?.name ?? c.labels?.['io.kubernetes.pod.name'] ?? '',
          podUid: pod?.uid ?? c.labels?.['io.kubernetes.pod.uid'] ?? '',
        };
      });
    },
    async ping() {
      try {
        return (await client.version({}, { deadlineMs: 2000 })).runtime_name !== '';
      } catch {
        return false;
      }
    },
    close: () => client.close(),
  };
}
