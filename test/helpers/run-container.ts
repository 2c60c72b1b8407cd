/** The kubelet's pod start, as e2e tests drive it through criguard: sandbox, PullImage, CreateContainer. */
import type { ServiceError } from '@grpc/grpc-js';
import type { CriClient, PodSandboxConfig } from './cri-client.js';

/** Where the flow stopped: a container id, or the error and the call (`pull` or `create`) that refused. */
export interface RunResult {
  id?: string;
  error?: ServiceError;
  stage?: 'pull' | 'create';
}

/**
 * Runs a pod sandbox from `config`, pulls `image` and creates a container from the image id the pull
 * returned (as the kubelet does), then starts it when `start` is set. A refused pull or create resolves
 * to the error, never rejects.
 */
export async function runContainer(
  cri: CriClient,
  config: PodSandboxConfig,
  image: string,
  options: {
    readonly start?: boolean;
    readonly userSpecifiedImage?: boolean;
    readonly logPath?: string;
  } = {},
): Promise<RunResult> {
  const { pod_sandbox_id } = await cri.runPodSandbox({ config });
  let imageId: string;
  try {
    imageId = (await cri.pullImage({ image: { image }, sandbox_config: config })).image_ref;
  } catch (err) {
    return { error: err as ServiceError, stage: 'pull' };
  }
  try {
    const { container_id } = await cri.createContainer({
      pod_sandbox_id,
      config: {
        metadata: { name: 'app' },
        image: options.userSpecifiedImage
          ? { image: imageId, user_specified_image: image }
          : { image: imageId },
        command: ['/bin/sleep', '3600'],
        log_path: options.logPath ?? 'a.log',
      },
      sandbox_config: config,
    });
    if (options.start) await cri.startContainer({ container_id });
    return { id: container_id };
  } catch (err) {
    return { error: err as ServiceError, stage: 'create' };
  }
}
