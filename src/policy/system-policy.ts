import { compileIdentity } from '../verify/keyless/identity.js';
import type { KeylessTrust } from '../verify/keyless/trusted-root.js';
import { DEFAULT_KEYLESS_THRESHOLDS } from '../verify/keyless/verify-bundle.js';
import type { TrustedAttestor } from '../verify/verify-attestations.js';
import { parseDigest } from '../reference/digest.js';
import { parseImageReference } from '../reference/image-reference.js';
import { createAllowlistIndex } from './allowlist.js';
import type { AllowlistIndex } from './allowlist.js';
import { hashCanonical } from './canonical-json.js';
import { compileNamePattern } from './name-pattern.js';
import type { CompiledPolicy, CompiledSystemPolicy, SandboxImageFacts, SystemImage } from './types.js';
import data from './system-policy.json' with { type: 'json' };

/**
 * criguard's built-in system-image policy, what `globalPolicyEvaluationMode: ENABLE` turns on
 * (docs/adr/0017-system-policy.md). It can only admit, never deny, and it is evaluated before the
 * user's rules: an image it admits is allowed (reason `SYSTEM_POLICY`) whatever the rules say; any
 * other image is judged by the user's policy exactly as with `DISABLE`. It admits:
 *
 * 1. the pod sandbox image containerd is configured with, at the digests containerd holds for that
 *    reference (containerd pulls and runs it on its own, outside the CRI calls criguard gates, so
 *    refusing it through the socket protects nothing and breaks `crictl pull` / `kubeadm` pre-pulls);
 * 2. the Kubernetes images of `system-policy.json` (kube-proxy, CoreDNS, pause, control-plane static
 *    pods) carrying a valid keyless signature by the Kubernetes release identity.
 *
 * Everything else a node needs (CNI, CSI, monitoring agents) has other signers: pin it with
 * `criguard policy pin-node-images` into `criguard.nodeCriticalImages`. Pure.
 */

/** The version of the built-in system-image data. */
export const SYSTEM_POLICY_VERSION: string = data.version;

/** The images the built-in system policy verifies by signature. */
export const SYSTEM_IMAGES: readonly SystemImage[] = Object.freeze(
  data.images.map((i) => Object.freeze({ namePattern: i.namePattern, role: i.role })),
);

/** The identities (issuer, subject) the system policy accepts for SYSTEM_IMAGES. */
export const SYSTEM_IDENTITIES: readonly { readonly issuer: string; readonly subject: string }[] =
  Object.freeze(data.attestor.identities.map((i) => Object.freeze({ ...i })));

const MAX_SANDBOX_DIGESTS = 16;

/**
 * Compiles the system policy with `trust` (the policy's `criguard.trustedRoot`, else the shipped
 * public-good root) and, when known, the node's sandbox image.
 */
export function compileSystemPolicy(trust: KeylessTrust, sandbox?: SandboxImageFacts): CompiledSystemPolicy {
  const attestor: TrustedAttestor = Object.freeze({
    name: data.attestor.name,
    keys: Object.freeze([]),
    threshold: 1,
    keyless: Object.freeze({
      trust,
      identities: Object.freeze(SYSTEM_IDENTITIES.map((i) => compileIdentity(i))),
      thresholds: DEFAULT_KEYLESS_THRESHOLDS,
    }),
  });
  const index: AllowlistIndex = createAllowlistIndex(
    SYSTEM_IMAGES.map((i) => ({ compiled: compileNamePattern(i.namePattern), kind: 'allowlist' as const })),
  );
  const pins = new Set(sandboxPins(sandbox));
  return Object.freeze({
    version: SYSTEM_POLICY_VERSION,
    attestor,
    images: SYSTEM_IMAGES,
    sandbox: sandbox === undefined ? undefined : Object.freeze({ ...sandbox, repoDigests: [...pins] }),
    pinned: (name: string, digest: string) =>
      pins.has(`${name}@${digest}`) ? `${name}@${digest}` : undefined,
    covers: (name: string) => index.match(name, undefined)?.pattern,
  });
}

/**
 * The policy with the node's sandbox image facts applied to its system policy, and a revision that
 * covers them (cached verdicts of one sandbox image never serve another). The policy itself when it
 * has no system policy (`globalPolicyEvaluationMode` is not ENABLE) or the facts are unchanged.
 */
export function withSandboxImage(
  policy: CompiledPolicy,
  sandbox: SandboxImageFacts | undefined,
): CompiledPolicy {
  const system = policy.system;
  if (system === undefined || sameFacts(system.sandbox, sandbox)) return policy;
  const compiled = compileSystemPolicy(system.attestor.keyless!.trust, sandbox);
  return Object.freeze({
    ...policy,
    baseRevision: policy.baseRevision ?? policy.revision,
    revision: hashCanonical({
      policy: policy.baseRevision ?? policy.revision,
      sandbox: compiled.sandbox ?? null,
    }),
    system: compiled,
  });
}

/** `name@sha256:…` pins of the sandbox image: well-formed repo digests under the configured name only. */
function sandboxPins(sandbox: SandboxImageFacts | undefined): string[] {
  if (sandbox === undefined) return [];
  let name: string;
  try {
    name = parseImageReference(sandbox.reference).name;
  } catch {
    return [];
  }
  const pins: string[] = [];
  for (const entry of sandbox.repoDigests.slice(0, MAX_SANDBOX_DIGESTS)) {
    const at = entry.lastIndexOf('@');
    if (at < 0 || entry.slice(0, at) !== name) continue;
    try {
      if (parseDigest(entry.slice(at + 1)).algorithm !== 'sha256') continue;
    } catch {
      continue;
    }
    pins.push(entry);
  }
  return pins.sort();
}

function sameFacts(a: SandboxImageFacts | undefined, b: SandboxImageFacts | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.reference === b.reference && sandboxPins(b).join(',') === a.repoDigests.join(',');
}
