import { z } from 'zod';
import { SIGNATURE_ALGORITHMS, SIGNATURE_ALGORITHM_ALIASES } from '../verify/algorithms.js';
import { VerifyError } from '../verify/errors.js';
import { compileIdentity } from '../verify/keyless/identity.js';
import { parseTrustedRoot } from '../verify/keyless/trusted-root.js';
import { parsePgpTrustedKey } from '../verify/pgp.js';
import { parseTrustedKey } from '../verify/public-key.js';
import type { PolicyIssueCode } from './errors.js';
import { MAX_IMAGE_RULES } from './image-rules.js';
import { compileNamePattern, NamePatternError } from './name-pattern.js';

/**
 * Strict schemas of the policy and attestor documents, in Binary Authorization's field names plus the
 * documented `criguard` extensions (docs/policy.md). Unknown fields fail; every problem is reported.
 */

const issue = (
  ctx: z.RefinementCtx,
  cg: PolicyIssueCode,
  message: string,
  path: PropertyKey[] = [],
): void => {
  ctx.addIssue({ code: 'custom', message, params: { cg }, path });
};

export const EVALUATION_MODES = ['ALWAYS_ALLOW', 'ALWAYS_DENY', 'REQUIRE_ATTESTATION'] as const;
export const ENFORCEMENT_MODES = ['ENFORCED_BLOCK_AND_AUDIT_LOG', 'DRYRUN_AUDIT_LOG_ONLY'] as const;
export const ON_UNDECIDED = ['DENY', 'ALLOW'] as const;

const NAMESPACE = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
const CLUSTER_KEY = /^[a-z0-9-]{1,63}\.[a-z0-9](?:[-a-z0-9]{0,38}[a-z0-9])?$/;
const ATTESTOR_NAME = /^(?:projects\/[a-z0-9-]{1,63}\/attestors\/)?[A-Za-z0-9_-]{1,64}$/;

/** A registry host as it appears in normalised image names: lower-case `host` or `host:port`, no scheme. */
const REGISTRY_HOST =
  /^(?:[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)*|\[[0-9a-f:]+\])(?::[0-9]{1,5})?$/;
const registryHost = z.string().superRefine((host, ctx) => {
  if (!REGISTRY_HOST.test(host) || host.length > 255) {
    issue(ctx, 'CG_ERR_POLICY_VALUE', 'not a registry host (lower-case host or host:port, e.g. docker.io)');
  }
});

const ruleSchema = z
  .strictObject({
    evaluationMode: z.enum(EVALUATION_MODES),
    requireAttestationsBy: z.array(z.string()).optional(),
    enforcementMode: z.enum(ENFORCEMENT_MODES),
    criguard: z
      .strictObject({
        onUndecided: z.enum(ON_UNDECIDED).optional(),
        onUndecidedRegistries: z.array(registryHost).max(256).optional(),
        bindDockerReference: z.boolean().optional(),
      })
      .optional(),
  })
  .superRefine((rule, ctx) => {
    const allow = rule.criguard?.onUndecided === 'ALLOW';
    const registries = rule.criguard?.onUndecidedRegistries;
    if (allow && (registries === undefined || registries.length === 0)) {
      issue(
        ctx,
        'CG_ERR_POLICY_REQUIRED',
        'onUndecided: ALLOW needs onUndecidedRegistries, the registries whose outage may admit unverified images',
        ['criguard', 'onUndecidedRegistries'],
      );
    }
    if (!allow && registries !== undefined) {
      issue(ctx, 'CG_ERR_POLICY_VALUE', 'onUndecidedRegistries goes with onUndecided: ALLOW', [
        'criguard',
        'onUndecidedRegistries',
      ]);
    }
    const count = rule.requireAttestationsBy?.length ?? 0;
    if (rule.evaluationMode === 'REQUIRE_ATTESTATION' && count === 0) {
      issue(ctx, 'CG_ERR_POLICY_EMPTY', 'REQUIRE_ATTESTATION needs a non-empty list', [
        'requireAttestationsBy',
      ]);
    }
    if (rule.evaluationMode !== 'REQUIRE_ATTESTATION' && count > 0) {
      issue(ctx, 'CG_ERR_POLICY_ATTESTATIONS_MISMATCH', 'only REQUIRE_ATTESTATION takes attestors', [
        'requireAttestationsBy',
      ]);
    }
    rule.requireAttestationsBy?.forEach((name, i) => {
      if (!ATTESTOR_NAME.test(name)) {
        issue(ctx, 'CG_ERR_POLICY_VALUE', 'not an attestor name (projects/P/attestors/A or A)', [
          'requireAttestationsBy',
          i,
        ]);
      }
    });
  });
export type RuleDocument = z.infer<typeof ruleSchema>;

const keyedRules = (keyPattern: RegExp, what: string) =>
  z.record(z.string(), ruleSchema).superRefine((rules, ctx) => {
    for (const key of Object.keys(rules)) {
      if (!keyPattern.test(key)) issue(ctx, 'CG_ERR_POLICY_VALUE', `not a valid ${what}`, [key]);
    }
  });

const unsupportedRules = (why: string) =>
  z.unknown().superRefine((value, ctx) => {
    const empty = typeof value === 'object' && value !== null && Object.keys(value).length === 0;
    if (!empty) issue(ctx, 'CG_ERR_POLICY_RULE_UNSUPPORTED', why);
  });

const namePattern = z.string().superRefine((pattern, ctx) => {
  try {
    compileNamePattern(pattern);
  } catch (err) {
    if (!(err instanceof NamePatternError)) throw err;
    issue(ctx, 'CG_ERR_POLICY_PATTERN_INVALID', err.message);
  }
});

const nodeCriticalImage = z.string().superRefine((ref, ctx) => {
  if (!ref.includes('@')) {
    issue(ctx, 'CG_ERR_POLICY_PATTERN_INVALID', 'node-critical images are pinned by digest: name@sha256:…');
    return;
  }
  try {
    compileNamePattern(ref);
  } catch (err) {
    if (!(err instanceof NamePatternError)) throw err;
    issue(ctx, 'CG_ERR_POLICY_PATTERN_INVALID', err.message);
  }
});

const ALGORITHM_NAMES = [...SIGNATURE_ALGORITHMS, ...Object.keys(SIGNATURE_ALGORITHM_ALIASES)] as [
  string,
  ...string[],
];

const publicKeySchema = z
  .strictObject({
    id: z.string().min(1).optional(),
    comment: z.string().optional(),
    pkixPublicKey: z
      .strictObject({ publicKeyPem: z.string().min(1), signatureAlgorithm: z.enum(ALGORITHM_NAMES) })
      .optional(),
    asciiArmoredPgpPublicKey: z.string().min(1).optional(),
  })
  .superRefine((key, ctx) => {
    if (key.asciiArmoredPgpPublicKey !== undefined) {
      if (key.pkixPublicKey !== undefined) {
        issue(ctx, 'CG_ERR_POLICY_VALUE', 'a key is either pkixPublicKey or asciiArmoredPgpPublicKey', [
          'pkixPublicKey',
        ]);
        return;
      }
      try {
        parsePgpTrustedKey(key.id, key.asciiArmoredPgpPublicKey);
      } catch (err) {
        if (!(err instanceof VerifyError)) throw err;
        issue(ctx, 'CG_ERR_POLICY_KEY_INVALID', err.message, ['asciiArmoredPgpPublicKey']);
      }
      return;
    }
    if (key.pkixPublicKey === undefined) {
      issue(ctx, 'CG_ERR_POLICY_REQUIRED', 'a key needs pkixPublicKey', ['pkixPublicKey']);
      return;
    }
    try {
      parseTrustedKey(key.id ?? '', key.pkixPublicKey.publicKeyPem, key.pkixPublicKey.signatureAlgorithm);
    } catch (err) {
      if (!(err instanceof VerifyError)) throw err;
      const code =
        err.code === 'CG_ERR_KEY_ALGORITHM_MISMATCH'
          ? 'CG_ERR_POLICY_KEY_ALGORITHM_MISMATCH'
          : 'CG_ERR_POLICY_KEY_INVALID';
      issue(ctx, code, err.message, ['pkixPublicKey', 'publicKeyPem']);
    }
  });

/** A trusted_root.json document, inline (criguard extension). */
const trustedRootSchema = z.record(z.string(), z.unknown()).superRefine((doc, ctx) => {
  try {
    parseTrustedRoot(doc, 'trustedRoot');
  } catch (err) {
    if (!(err instanceof VerifyError)) throw err;
    issue(ctx, 'CG_ERR_POLICY_VALUE', err.message);
  }
});

/** A keyless identity (criguard extension; cosign's --certificate-* semantics, regexps anchored). */
const keylessIdentitySchema = z
  .strictObject({
    issuer: z.string().min(1).max(1024).optional(),
    issuerRegExp: z.string().min(1).max(1024).optional(),
    subject: z.string().min(1).max(1024).optional(),
    subjectRegExp: z.string().min(1).max(1024).optional(),
    github: z
      .strictObject({
        workflowTrigger: z.string().min(1).optional(),
        workflowSha: z.string().min(1).optional(),
        workflowName: z.string().min(1).optional(),
        workflowRepository: z.string().min(1).optional(),
        workflowRef: z.string().min(1).optional(),
      })
      .optional(),
  })
  .superRefine((identity, ctx) => {
    try {
      compileIdentity(identity);
    } catch (err) {
      if (!(err instanceof VerifyError)) throw err;
      issue(ctx, 'CG_ERR_POLICY_VALUE', err.message);
    }
  });

/** `criguard.keyless` of an attestor: who may sign (Sigstore certificates), against which root. */
const keylessSchema = z.strictObject({
  identities: z.array(keylessIdentitySchema).min(1).max(64),
  trustedRoot: trustedRootSchema.optional(),
  thresholds: z
    .strictObject({
      ctlog: z.number().int().min(0).max(8).optional(),
      tlog: z.number().int().min(0).max(8).optional(),
      timestamp: z.number().int().min(1).max(8).optional(),
    })
    .optional(),
});

/**
 * One attestor, as `gcloud container binauthz attestors describe` prints it (plus `criguard.threshold`),
 * or a keyless attestor (`criguard.keyless` instead of `userOwnedGrafeasNote`).
 */
export const attestorSchema = z
  .strictObject({
    name: z.string().regex(ATTESTOR_NAME, 'not an attestor name (projects/P/attestors/A or A)'),
    description: z.string().optional(),
    updateTime: z.string().optional(),
    etag: z.string().optional(),
    userOwnedGrafeasNote: z
      .strictObject({
        noteReference: z.string().optional(),
        delegationServiceAccountEmail: z.string().optional(),
        publicKeys: z.array(publicKeySchema).min(1),
      })
      .optional(),
    criguard: z
      .strictObject({
        threshold: z.number().int().min(1).max(64).optional(),
        keyless: keylessSchema.optional(),
      })
      .optional(),
  })
  .superRefine((attestor, ctx) => {
    const keyless = attestor.criguard?.keyless;
    if ((attestor.userOwnedGrafeasNote === undefined) === (keyless === undefined)) {
      issue(
        ctx,
        attestor.userOwnedGrafeasNote === undefined ? 'CG_ERR_POLICY_REQUIRED' : 'CG_ERR_POLICY_VALUE',
        'an attestor has either userOwnedGrafeasNote (keys) or criguard.keyless (identities), not both',
        attestor.userOwnedGrafeasNote === undefined ? ['userOwnedGrafeasNote'] : ['criguard', 'keyless'],
      );
      return;
    }
    if (keyless !== undefined) {
      if ((attestor.criguard?.threshold ?? 1) > keyless.identities.length) {
        issue(ctx, 'CG_ERR_POLICY_VALUE', 'threshold exceeds the number of identities', [
          'criguard',
          'threshold',
        ]);
      }
      return;
    }
    const keys = attestor.userOwnedGrafeasNote?.publicKeys ?? [];
    const ids = keys.map((k) => k.id).filter((id): id is string => id !== undefined);
    ids.forEach((id, i) => {
      if (ids.indexOf(id) !== i)
        issue(ctx, 'CG_ERR_POLICY_DUPLICATE', `duplicate key id ${id}`, [
          'userOwnedGrafeasNote',
          'publicKeys',
        ]);
    });
    const threshold = attestor.criguard?.threshold ?? 1;
    if (keys.length > 0 && threshold > keys.length) {
      issue(ctx, 'CG_ERR_POLICY_VALUE', 'threshold exceeds the number of keys', ['criguard', 'threshold']);
    }
  });
export type AttestorDocument = z.infer<typeof attestorSchema>;
export type KeylessDocument = z.infer<typeof keylessSchema>;

/** An attestor file holds one attestor or a list of them. */
export const attestorListSchema = z.array(attestorSchema);

/** One `criguard.imageRules` entry: images (allowlist pattern syntax) and the attestors they also need. */
const imageRuleSchema = z.strictObject({
  namePattern,
  description: z.string().optional(),
  requireAttestationsBy: z
    .array(z.string().regex(ATTESTOR_NAME, 'not an attestor name (projects/P/attestors/A or A)'))
    .min(1),
});

/** The policy document. */
export const policySchema = z.strictObject({
  name: z.string().optional(),
  description: z.string().optional(),
  etag: z.string().optional(),
  updateTime: z.string().optional(),
  globalPolicyEvaluationMode: z.enum(['ENABLE', 'DISABLE']).optional(),
  admissionWhitelistPatterns: z.array(z.strictObject({ namePattern })).optional(),
  defaultAdmissionRule: ruleSchema,
  kubernetesNamespaceAdmissionRules: keyedRules(NAMESPACE, 'Kubernetes namespace name').optional(),
  clusterAdmissionRules: keyedRules(CLUSTER_KEY, 'cluster key (location.clusterId)').optional(),
  kubernetesServiceAccountAdmissionRules: unsupportedRules(
    'the CRI carries no service account: a node cannot evaluate service-account rules',
  ).optional(),
  istioServiceIdentityAdmissionRules: unsupportedRules(
    'Istio identities are not visible to the CRI: a node cannot evaluate them',
  ).optional(),
  attestors: z.array(attestorSchema).optional(),
  criguard: z
    .strictObject({
      nodeCriticalImages: z.array(nodeCriticalImage).optional(),
      bindDockerReference: z.boolean().optional(),
      /** trusted_root.json for keyless attestors without their own (default: Sigstore public good). */
      trustedRoot: trustedRootSchema.optional(),
      /** Requirements added for the images a name pattern matches, on top of the rule that applies. */
      imageRules: z.array(imageRuleSchema).max(MAX_IMAGE_RULES).optional(),
    })
    .optional(),
});
export type PolicyDocument = z.infer<typeof policySchema>;
