import type { ImageFacts, ImageLookup } from '../admission/ports.js';
import type { ContainerLister, RunningContainer } from '../admission/revalidation.js';
import { decodeCriMessage, encodeCriMessage } from './proto.js';
import { createUnaryCaller } from './unary-call.js';
import { CriguardError } from '../errors/criguard-error.js';

const MAX_MESSAGE = 16 * 1024 * 1024;
const TIMEOUT_MS = 30_000;

interface ImageStatusResponse {
  image: { id: string; repo_tags: string[]; repo_digests: string[] } | null;
}
interface ListContainersResponse {
  containers: Array<{
    id: string;
    pod_sandbox_id: string;
    metadata: { name: string } | null;
    image: { image: string } | null;
    image_ref: string;
    labels: Record<string, string>;
  }>;
}
interface ListPodSandboxResponse {
  items: Array<{ id: string; metadata: { name: string; uid: string; namespace: string } | null }>;
}

interface StatusResponse {
  info: Record<string, string>;
}

/**
 * The pod sandbox image in containerd's verbose CRI Status (`crictl info`): `config.sandboxImage`
 * (containerd 1.x), else `config.pinnedImages.sandbox` / `pinnedImages.sandbox` (2.x, where reported).
 * Undefined when containerd reports none. Bounded: a value over 4 KiB is ignored.
 */
export function sandboxImageOf(info: Record<string, string>): string | undefined {
  const parse = (text: string | undefined): Record<string, unknown> | undefined => {
    if (text === undefined || text.length > 4 * 1024 * 1024) return undefined;
    try {
      const value: unknown = JSON.parse(text);
      return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  };
  const config = parse(info['config']);
  const pinned = (where: Record<string, unknown> | undefined): unknown =>
    (where?.['pinnedImages'] as Record<string, unknown> | undefined)?.['sandbox'];
  const found = config?.['sandboxImage'] ?? pinned(config) ?? pinned(parse(info['imageConfig']));
  return typeof found === 'string' && found.length > 0 && found.length <= 4096 ? found : undefined;
}
/** Why a call of criguard's own to containerd gave no answer. */
export type ContainerdErrorCode = 'CG_ERR_UPSTREAM' | 'CG_ERR_CANCELLED';

/**
 * criguard's own calls to containerd, on a connection of its own: image look-ups (ImageStatus; undefined
 * when containerd has no such image), running containers (ListContainers + ListPodSandbox), and a
 * liveness probe (Version). Rejects with CG_ERR_UPSTREAM when containerd cannot answer.
 */
export function createContainerdClient(upstreamSocket: string): ImageLookup &
  ContainerLister & {
    ping(): Promise<boolean>;
    /** The configured sandbox image and its repo digests; undefined when containerd names none. */
    sandboxImage(
      signal: AbortSignal,
    ): Promise<{ reference: string; repoDigests: readonly string[] } | undefined>;
    close(): void;
  } {
  const caller = createUnaryCaller(upstreamSocket, MAX_MESSAGE);
  const call = async <T>(
    method: string,
    requestType: string,
    request: Record<string, unknown>,
    responseType: string,
  ) => {
    const failed = (what: string, err: unknown) =>
      new CriguardError<ContainerdErrorCode>(
        'CG_ERR_UPSTREAM',
        `containerd ${method.split('/').pop()} ${what}: ${(err as Error).message}`,
      );
    let bytes: Buffer;
    try {
      bytes = await caller.call(method, encodeCriMessage(requestType, request), TIMEOUT_MS);
    } catch (err) {
      throw failed('failed', err);
    }
    try {
      return decodeCriMessage<T>(responseType, bytes);
    } catch (err) {
      throw failed('answered an unreadable message', err);
    }
  };
  return {
    async lookup(image, signal) {
      if (signal.aborted) throw new CriguardError<ContainerdErrorCode>('CG_ERR_CANCELLED', 'cancelled');
      const response = await call<ImageStatusResponse>(
        '/runtime.v1.ImageService/ImageStatus',
        'ImageStatusRequest',
        { image: { image } },
        'ImageStatusResponse',
      );
      const found = response.image;
      if (!found) return undefined;
      const facts: ImageFacts = { id: found.id, repoDigests: found.repo_digests, repoTags: found.repo_tags };
      return facts;
    },
    async listRunning() {
      const [containers, sandboxes] = await Promise.all([
        call<ListContainersResponse>(
          '/runtime.v1.RuntimeService/ListContainers',
          'ListContainersRequest',
          { filter: { state: { state: 'CONTAINER_RUNNING' } } },
          'ListContainersResponse',
        ),
        call<ListPodSandboxResponse>(
          '/runtime.v1.RuntimeService/ListPodSandbox',
          'ListPodSandboxRequest',
          {},
          'ListPodSandboxResponse',
        ),
      ]);
      // The pod comes from the sandbox's metadata (what CreateContainer was judged under); the kubelet's
      // container labels are the fallback.
      const pods = new Map(sandboxes.items.map((p) => [p.id, p.metadata]));
      return containers.containers.map((c): RunningContainer => {
        const pod = pods.get(c.pod_sandbox_id);
        return {
          id: c.id,
          name: c.metadata?.name ?? '',
          image: c.image_ref || c.image?.image || '',
          namespace: pod?.namespace ?? c.labels['io.kubernetes.pod.namespace'] ?? '',
          podName: pod?.name ?? c.labels['io.kubernetes.pod.name'] ?? '',
          podUid: pod?.uid ?? c.labels['io.kubernetes.pod.uid'] ?? '',
        };
      });
    },
    async sandboxImage(signal) {
      const status = await call<StatusResponse>(
        '/runtime.v1.RuntimeService/Status',
        'StatusRequest',
        { verbose: true },
        'StatusResponse',
      );
      const reference = sandboxImageOf(status.info);
      if (reference === undefined) return undefined;
      const image = await this.lookup(reference, signal);
      return { reference, repoDigests: image?.repoDigests ?? [] };
    },
    async ping() {
      try {
        const v = await call<{ runtime_name: string }>(
          '/runtime.v1.RuntimeService/Version',
          'VersionRequest',
          {},
          'VersionResponse',
        );
        return v.runtime_name !== '';
      } catch {
        return false;
      }
    },
    close: () => caller.close(),
  };
}
