import type { Admission, PullFacts } from '../../admission/admission.js';
import type { PullImageRequest, PullImageResponse } from '../cri-types.js';
import type { GateDecision, RequestGate } from '../gate.js';
import { decodeCriMessage } from '../proto.js';
import { toRejection } from '../status.js';
import { toPodFacts } from './pod-facts.js';

/**
 * The PullImage gate: decodes a copy of the request, asks admission before the pull, and holds the
 * response until admission confirms that what containerd pulled is what was admitted.
 * A request that does not decode is refused (fail closed).
 */
export function createPullImageGate(admission: Admission): RequestGate {
  return async (request, { signal }): Promise<GateDecision> => {
    let facts: PullFacts;
    try {
      facts = toPullFacts(decodeCriMessage<PullImageRequest>('PullImageRequest', request));
    } catch {
      return {
        action: 'reject',
        ...toRejection({ allowed: false, kind: 'bad-request', reason: 'malformed PullImage request' })!,
      };
    }
    const admitted = await admission.admitPull(facts, signal);
    if (!admitted.allowed) return { action: 'reject', ...toRejection(admitted)! };
    return {
      action: 'forward',
      checkResponse: async (response, responseSignal) => {
        const { image_ref } = decodeCriMessage<PullImageResponse>('PullImageResponse', response);
        return toRejection(await admitted.confirm(image_ref, responseSignal));
      },
    };
  };
}

function toPullFacts(request: PullImageRequest): PullFacts {
  const auth = request.auth;
  const hasCredentials =
    auth !== null &&
    [auth.username, auth.password, auth.auth, auth.identity_token, auth.registry_token].some((v) => v !== '');
  return {
    image: request.image?.image ?? '',
    pod: toPodFacts(request.sandbox_config),
    credentials: hasCredentials
      ? {
          username: auth.username,
          password: auth.password,
          auth: auth.auth,
          serverAddress: auth.server_address,
          identityToken: auth.identity_token,
          registryToken: auth.registry_token,
        }
      : undefined,
  };
}
