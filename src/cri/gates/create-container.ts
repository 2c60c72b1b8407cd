import type { Admission, CreateFacts } from '../../admission/admission.js';
import type { CreateContainerRequest } from '../cri-types.js';
import type { GateDecision, RequestGate } from '../gate.js';
import { decodeCriMessage } from '../proto.js';
import { toRejection } from '../status.js';
import { toPodFacts } from './pod-facts.js';

/**
 * The CreateContainer gate: decodes a copy of the request (the container's image id, the pod-spec image
 * string, image volumes, the pod) and asks admission. A request that does not decode is refused.
 */
export function createCreateContainerGate(admission: Admission): RequestGate {
  return async (request, { signal }): Promise<GateDecision> => {
    let facts: CreateFacts;
    try {
      facts = toCreateFacts(decodeCriMessage<CreateContainerRequest>('CreateContainerRequest', request));
    } catch {
      return {
        action: 'reject',
        ...toRejection({ allowed: false, kind: 'bad-request', reason: 'malformed CreateContainer request' })!,
      };
    }
    const rejection = toRejection(await admission.admitCreate(facts, signal));
    return rejection ? { action: 'reject', ...rejection } : { action: 'forward' };
  };
}

function toCreateFacts(request: CreateContainerRequest): CreateFacts {
  const config = request.config;
  return {
    image: config?.image?.image ?? '',
    userSpecifiedImage: config?.image?.user_specified_image ?? '',
    volumeImages: (config?.mounts ?? []).map((m) => m.image?.image ?? '').filter((i) => i !== ''),
    containerName: config?.metadata?.name ?? '',
    podSandboxId: request.pod_sandbox_id,
    pod: toPodFacts(request.sandbox_config),
  };
}
