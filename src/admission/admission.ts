/**
 * The contract between the CRI transport and the decision point. The transport extracts facts from the
 * two gated RPCs and asks; admission answers with an outcome value. Transport maps outcomes to gRPC
 * status (cri/status.ts); admission knows nothing of gRPC.
 */

/** Registry credentials from a PullImageRequest. Secret: never logged, never audited. */
export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
  readonly auth: string;
  readonly serverAddress: string;
  readonly identityToken: string;
  readonly registryToken: string;
}

/** The pod a call is made for (from sandbox_config.metadata); empty strings when the client sent none. */
export interface PodFacts {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface PullFacts {
  /** The image string as the kubelet sent it. */
  readonly image: string;
  readonly pod: PodFacts;
  readonly credentials: RegistryCredentials | undefined;
}

export interface CreateFacts {
  /** `config.image.image`: for containerd, the image id (config digest). */
  readonly image: string;
  /** `config.image.user_specified_image`: the pod-spec string (kubelet 1.28+), or "". */
  readonly userSpecifiedImage: string;
  /** Images mounted as volumes (KEP 4639), each checked like the container's own image. */
  readonly volumeImages: readonly string[];
  readonly containerName: string;
  readonly podSandboxId: string;
  readonly pod: PodFacts;
}

/** Why a call was refused; the transport turns each kind into the kubelet's message prefix. */
export type RefusalKind = 'denied' | 'registry-unavailable' | 'busy' | 'bad-request';

export type AdmissionOutcome =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly kind: RefusalKind; readonly reason: string };

/** A refused call. */
export type Refusal = Extract<AdmissionOutcome, { allowed: false }>;

/**
 * After containerd pulled `imageRef` (the image id it reports): is it what was admitted? Bound to the
 * admission it came from; call it once.
 */
export type ConfirmPull = (imageRef: string, signal: AbortSignal) => Promise<AdmissionOutcome>;

/** PullImage's answer: a refusal, or an allow that carries the check to run on containerd's response. */
export type PullAdmission = Refusal | { readonly allowed: true; readonly confirm: ConfirmPull };

/** The decision point, as the transport sees it. Implementations never throw for a decision. */
export interface Admission {
  /** Before containerd pulls; an allow carries its confirm step for containerd's answer. */
  admitPull(facts: PullFacts, signal: AbortSignal): Promise<PullAdmission>;
  /** Before containerd creates a container. */
  admitCreate(facts: CreateFacts, signal: AbortSignal): Promise<AdmissionOutcome>;
}

/** Admits everything: the transparent proxy of `criguard serve` without a policy. */
export const admitEverything: Admission = Object.freeze({
  admitPull: () =>
    Promise.resolve({ allowed: true as const, confirm: () => Promise.resolve({ allowed: true as const }) }),
  admitCreate: () => Promise.resolve({ allowed: true as const }),
});
