import type { ImageIdentity, ImageReference } from '../reference/image-reference.js';
import type { AttestationRecord } from '../verify/attestation.js';
import type { RegistryCredentials } from './admission.js';
import type { DecisionRecord, OverrideGrant, QuarantineHit } from './decision-record.js';

/**
 * What admission needs from the outside, as small interfaces. Implementations live in registry/,
 * attestations/, cache/, audit/ and cri/ (containerd look-ups); main wires them.
 * Each may reject; admission treats a rejection as "could not decide".
 */

/** Tag → manifest digest, through the registry, with the kubelet's credentials for that host only. */
export interface DigestResolver {
  resolve(
    reference: ImageReference,
    credentials: RegistryCredentials | undefined,
    signal: AbortSignal,
  ): Promise<string>;
}

/** Attestations for an image digest (local directory, registry, on-disk cache), unverified. */
export interface EvidenceSource {
  fetch(
    image: ImageIdentity,
    credentials: RegistryCredentials | undefined,
    signal: AbortSignal,
  ): Promise<AttestationRecord[]>;
}

/** What containerd knows of an image, by image id or reference; undefined when it has no such image. */
export interface ImageFacts {
  readonly id: string;
  /** `<normalised name>@<manifest or index digest>` entries. */
  readonly repoDigests: readonly string[];
  readonly repoTags: readonly string[];
}

export interface ImageLookup {
  lookup(image: string, signal: AbortSignal): Promise<ImageFacts | undefined>;
}

/** Receives exactly one record per decision (the audit log). Must not throw. */
export interface DecisionSink {
  record(record: DecisionRecord): void;
}

/** Milliseconds since the epoch. */
export type Clock = () => number;

/** Looks up a breakglass grant; expiry is checked against `now` at every call. */
export interface Breakglass {
  grantFor(
    request: {
      readonly namespace: string | undefined;
      readonly imageName: string | undefined;
      readonly digest: string | undefined;
    },
    now: number,
  ): OverrideGrant | undefined;
}

/**
 * The node's quarantine (deny) list. `check` is asked with every name and digest an image is known by;
 * expiry is applied against `now` at every call.
 */
export interface Quarantine {
  check(
    subject: {
      readonly names: readonly { readonly name: string; readonly digest: string | undefined }[];
      readonly digests: readonly string[];
    },
    now: number,
  ): QuarantineHit | undefined;
  /** Whether a check could refuse anything at `now` (an entry in force, or a list that cannot be trusted). */
  inForce(now: number): boolean;
}

/** Multi-arch: the manifest a digest-checked index holds for this node's platform (undefined if none). */
export interface PlatformResolver {
  platformManifest(
    image: ImageIdentity,
    credentials: RegistryCredentials | undefined,
    signal: AbortSignal,
  ): Promise<{ readonly digest: string; readonly configDigest: string } | undefined>;
}
