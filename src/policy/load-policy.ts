import type { z } from 'zod';
import { compileIdentity } from '../verify/keyless/identity.js';
import { PUBLIC_GOOD_SOURCE, publicGoodTrust } from '../verify/keyless/public-good.js';
import { parseTrustedRoot } from '../verify/keyless/trusted-root.js';
import type { KeylessTrust } from '../verify/keyless/trusted-root.js';
import { DEFAULT_KEYLESS_THRESHOLDS } from '../verify/keyless/verify-bundle.js';
import { parsePgpTrustedKey } from '../verify/pgp.js';
import { defaultKeyId, parseTrustedKey } from '../verify/public-key.js';
import type { TrustedAttestor } from '../verify/verify-attestations.js';
import { createAllowlistIndex } from './allowlist.js';
import type { AllowlistMatch } from './allowlist.js';
import { resolveAttestorName } from './attestor-names.js';
import { hashCanonical } from './canonical-json.js';
import { formatPath, PolicyLoadError } from './errors.js';
import type { PolicyIssue, PolicyIssueCode } from './errors.js';
import { freezeMap } from './frozen-map.js';
import { compileImageRule } from './image-rules.js';
import { compileNamePattern } from './name-pattern.js';
import { compileSystemPolicy } from './system-policy.js';
import { policyWarnings } from './warnings.js';
import type { AttestorAt, PolicyWarning } from './warnings.js';
import { parseYamlOrJson } from './parse-text.js';
import type { SourceText } from './parse-text.js';
import { attestorListSchema, attestorSchema, policySchema } from './schema.js';
import type { AttestorDocument, KeylessDocument, PolicyDocument, RuleDocument } from './schema.js';
import type { CompiledPolicy, CompiledRule, RuleKind } from './types.js';

/** What loadPolicy reads: the policy text and, optionally, attestor files (one attestor or a list each). */
export interface LoadPolicyInput {
  readonly policy: SourceText;
  readonly attestorFiles?: readonly SourceText[];
}

/** Node facts the policy needs: the cluster key (`location.clusterId`) that `clusterAdmissionRules` match. */
export interface LoadPolicyOptions {
  readonly cluster?: string | undefined;
}

/**
 * Parses (YAML or JSON), validates strictly and compiles a policy with its attestors. Returns a frozen
 * CompiledPolicy with a revision hash. Throws PolicyLoadError (`CG_ERR_POLICY_INVALID`) listing every
 * problem with its file and field path. Pure: the caller reads the files. Fail closed.
 */
export function loadPolicy(input: LoadPolicyInput, options: LoadPolicyOptions = {}): CompiledPolicy {
  const issues: PolicyIssue[] = [];
  const policyRaw = parseYamlOrJson(input.policy);
  let policy: PolicyDocument | undefined;
  if (!policyRaw.ok) issues.push(...policyRaw.issues);
  else if (isRecord(policyRaw.value) && 'gkePolicy' in policyRaw.value) {
    // Said as what it is, rather than as the admission fields it lacks.
    throw new PolicyLoadError([
      issueAt(
        input.policy.source,
        ['gkePolicy'],
        'CG_ERR_POLICY_KIND_UNSUPPORTED',
        'this is a Binary Authorization continuous-validation platform policy (gkePolicy.checkSets), which ' +
          'audits running pods; criguard enforces admission policies (defaultAdmissionRule and the ' +
          '*AdmissionRules): see docs/policy.md',
      ),
    ]);
  } else {
    const parsed = policySchema.safeParse(policyRaw.value, { reportInput: true });
    if (parsed.success) policy = parsed.data;
    else issues.push(...fromZod(input.policy.source, parsed.error.issues));
  }

  const attestorDocs: AttestorAt[] = [];
  const rawNames: { name: string; source: string; path: PropertyKey[] }[] = [];
  if (policyRaw.ok && isRecord(policyRaw.value)) {
    collectRawAttestorNames(
      policyRaw.value['attestors'],
      input.policy.source,
      (i) => ['attestors', i],
      rawNames,
    );
  }
  policy?.attestors?.forEach((doc, i) =>
    attestorDocs.push({ doc, source: input.policy.source, path: ['attestors', i] }),
  );
  for (const file of input.attestorFiles ?? []) {
    const raw = parseYamlOrJson(file);
    if (!raw.ok) {
      issues.push(...raw.issues);
      continue;
    }
    const list = Array.isArray(raw.value);
    collectRawAttestorNames(list ? raw.value : [raw.value], file.source, (i) => (list ? [i] : []), rawNames);
    if (list) {
      const parsed = attestorListSchema.safeParse(raw.value, { reportInput: true });
      if (!parsed.success) issues.push(...fromZod(file.source, parsed.error.issues));
      else parsed.data.forEach((doc, i) => attestorDocs.push({ doc, source: file.source, path: [i] }));
    } else {
      const parsed = attestorSchema.safeParse(raw.value, { reportInput: true });
      if (!parsed.success) issues.push(...fromZod(file.source, parsed.error.issues));
      else attestorDocs.push({ doc: parsed.data, source: file.source, path: [] });
    }
  }

  const definedNames = rawNames.map((n) => n.name);
  rawNames.forEach((n, i) => {
    if (definedNames.indexOf(n.name) !== i) {
      issues.push(
        issueAt(
          n.source,
          [...n.path, 'name'],
          'CG_ERR_POLICY_DUPLICATE',
          `attestor ${n.name} is defined twice`,
        ),
      );
    }
  });
  if (policyRaw.ok) checkRuleReferences(policyRaw.value, input.policy.source, definedNames, issues);

  if (issues.length > 0 || policy === undefined) throw new PolicyLoadError(issues);
  const warnings = policyWarnings(policy, attestorDocs, {
    source: input.policy.source,
    cluster: options.cluster,
  });
  return compile(
    policy,
    attestorDocs.map((a) => a.doc),
    options,
    Object.freeze(warnings),
  );
}

function compile(
  policy: PolicyDocument,
  attestorDocs: readonly AttestorDocument[],
  options: LoadPolicyOptions,
  warnings: readonly PolicyWarning[],
): CompiledPolicy {
  const attestors = new Map<string, TrustedAttestor>();
  const policyRoot =
    policy.criguard?.trustedRoot === undefined
      ? undefined
      : parseTrustedRoot(policy.criguard.trustedRoot, 'policy criguard.trustedRoot');
  for (const doc of attestorDocs) {
    const keylessDoc = doc.criguard?.keyless;
    if (keylessDoc !== undefined) {
      attestors.set(
        doc.name,
        compileKeylessAttestor(doc.name, keylessDoc, doc.criguard?.threshold, policyRoot),
      );
      continue;
    }
    const documents = doc.userOwnedGrafeasNote?.publicKeys ?? [];
    const pgpKeys = documents.flatMap((k) =>
      k.asciiArmoredPgpPublicKey === undefined ? [] : [parsePgpTrustedKey(k.id, k.asciiArmoredPgpPublicKey)],
    );
    const keys = documents.flatMap((k) => {
      const pkix = k.pkixPublicKey;
      if (pkix === undefined) return []; // an OpenPGP key (the schema requires one of the two)
      const parsed = parseTrustedKey(k.id ?? '', pkix.publicKeyPem, pkix.signatureAlgorithm);
      return [k.id === undefined ? Object.freeze({ ...parsed, id: defaultKeyId(parsed.key) }) : parsed];
    });
    // Thresholds count distinct keys by id: one key listed twice (or two ids for one key) would let a
    // single private key count twice, so each key material and each id may appear once per attestor.
    const material = [
      ...keys.map((k) => k.key.export({ type: 'spki', format: 'der' }).toString('base64')),
      ...pgpKeys.map((k) => `pgp:${k.id}`),
    ];
    const ids = [...keys.map((k) => k.id), ...pgpKeys.map((k) => k.id)];
    const repeated = material.findIndex(
      (_, i) => material.indexOf(material[i]!) !== i || ids.indexOf(ids[i]!) !== i,
    );
    if (repeated >= 0) {
      throw new PolicyLoadError([
        {
          source: 'policy',
          path: `attestors.${doc.name}.userOwnedGrafeasNote.publicKeys[${repeated}]`,
          code: 'CG_ERR_POLICY_DUPLICATE',
          message: 'the same public key (or key id) appears twice in one attestor',
        },
      ]);
    }
    attestors.set(
      doc.name,
      Object.freeze({
        name: doc.name,
        keys: Object.freeze(keys),
        ...(pgpKeys.length === 0 ? {} : { pgpKeys: Object.freeze(pgpKeys) }),
        threshold: doc.criguard?.threshold ?? 1,
      }),
    );
  }
  const names = [...attestors.keys()];
  const bindDefault = policy.criguard?.bindDockerReference ?? false;
  const compileRule = (doc: RuleDocument, kind: RuleKind, key: string | undefined): CompiledRule => {
    const resolved = new Set<string>();
    for (const ref of doc.requireAttestationsBy ?? []) {
      const r = resolveAttestorName(ref, names);
      if (r.kind === 'found') resolved.add(r.name);
    }
    return Object.freeze({
      kind,
      key,
      evaluationMode: doc.evaluationMode,
      enforcementMode: doc.enforcementMode,
      attestors: Object.freeze([...resolved].map((n) => attestors.get(n) as TrustedAttestor)),
      onUndecided: doc.criguard?.onUndecided ?? 'DENY',
      onUndecidedRegistries: Object.freeze([...(doc.criguard?.onUndecidedRegistries ?? [])]),
      bindDockerReference: doc.criguard?.bindDockerReference ?? bindDefault,
    });
  };
  const namespaceRules = freezeMap(
    Object.entries(policy.kubernetesNamespaceAdmissionRules ?? {}).map(
      ([k, r]) => [k, compileRule(r, 'namespace', k)] as const,
    ),
  );
  const clusterRules = freezeMap(
    Object.entries(policy.clusterAdmissionRules ?? {}).map(
      ([k, r]) => [k, compileRule(r, 'cluster', k)] as const,
    ),
  );
  const allowlist = createAllowlistIndex([
    ...(policy.criguard?.nodeCriticalImages ?? []).map((p) => ({
      compiled: compileNamePattern(p),
      kind: 'node-critical' as AllowlistMatch['kind'],
    })),
    ...(policy.admissionWhitelistPatterns ?? []).map((p) => ({
      compiled: compileNamePattern(p.namePattern),
      kind: 'allowlist' as AllowlistMatch['kind'],
    })),
  ]);
  const sortedAttestors = [...attestorDocs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // A keyless attestor may rely on the built-in root, which changes with criguard releases: it is part
  // of the revision then (and only then, so key-only policies keep their revisions).
  const builtinRoot = [...attestors.values()].find((a) => a.keyless?.trust.source === PUBLIC_GOOD_SOURCE);
  const imageRules = Object.freeze(
    (policy.criguard?.imageRules ?? []).map((r) => {
      const resolved = new Set<string>();
      for (const ref of r.requireAttestationsBy) {
        const found = resolveAttestorName(ref, names);
        if (found.kind === 'found') resolved.add(found.name);
      }
      return compileImageRule(
        compileNamePattern(r.namePattern),
        [...resolved].map((n) => attestors.get(n) as TrustedAttestor),
      );
    }),
  );
  // The system policy's release identity is verified against the policy's root, else the shipped one.
  const system =
    policy.globalPolicyEvaluationMode === 'ENABLE'
      ? compileSystemPolicy(policyRoot ?? publicGoodTrust())
      : undefined;
  const builtinDigest =
    builtinRoot?.keyless?.trust.digest ?? (system && !policyRoot ? publicGoodTrust().digest : undefined);
  const revision = hashCanonical({
    policy,
    attestors: sortedAttestors,
    ...(builtinDigest === undefined ? {} : { builtinTrustedRoot: builtinDigest }),
    ...(system === undefined ? {} : { systemPolicy: system.version }),
  });
  return Object.freeze({
    revision,
    name: policy.name,
    cluster: options.cluster,
    globalPolicyEvaluationMode: policy.globalPolicyEvaluationMode,
    defaultRule: compileRule(policy.defaultAdmissionRule, 'default', undefined),
    clusterRule: options.cluster === undefined ? undefined : clusterRules.get(options.cluster),
    namespaceRules,
    clusterRules,
    attestors: freezeMap(attestors),
    allowlist,
    imageRules,
    system,
    warnings,
  });
}

/** A keyless attestor: identities compiled, its root (else the policy's, else the built-in one). */
function compileKeylessAttestor(
  name: string,
  doc: KeylessDocument,
  threshold: number | undefined,
  policyRoot: KeylessTrust | undefined,
): TrustedAttestor {
  const trust =
    doc.trustedRoot === undefined
      ? (policyRoot ?? publicGoodTrust())
      : parseTrustedRoot(doc.trustedRoot, `attestor ${name} trustedRoot`);
  const thresholds = Object.freeze({
    ctlog: doc.thresholds?.ctlog ?? DEFAULT_KEYLESS_THRESHOLDS.ctlog,
    tlog: doc.thresholds?.tlog ?? DEFAULT_KEYLESS_THRESHOLDS.tlog,
    timestamp: doc.thresholds?.timestamp ?? DEFAULT_KEYLESS_THRESHOLDS.timestamp,
  });
  return Object.freeze({
    name,
    keys: Object.freeze([]),
    threshold: threshold ?? 1,
    keyless: Object.freeze({
      trust,
      identities: Object.freeze(doc.identities.map((i) => compileIdentity(i))),
      thresholds,
    }),
  });
}

function issueAt(
  source: string,
  path: readonly PropertyKey[],
  code: PolicyIssueCode,
  message: string,
): PolicyIssue {
  return Object.freeze({ source, path: formatPath(path), code, message });
}

/** Maps zod's issues to ours: one issue per unknown key, REQUIRED vs TYPE, enum and emptiness codes. */
function fromZod(
  source: string,
  zodIssues: readonly z.core.$ZodIssue[],
  prefix: readonly PropertyKey[] = [],
): PolicyIssue[] {
  const out: PolicyIssue[] = [];
  for (const zi of zodIssues) {
    const path = [...prefix, ...zi.path];
    switch (zi.code) {
      case 'unrecognized_keys':
        for (const key of zi.keys)
          out.push(issueAt(source, [...path, key], 'CG_ERR_POLICY_UNKNOWN_FIELD', 'unknown field'));
        break;
      case 'invalid_type':
        out.push(
          zi.input === undefined
            ? issueAt(source, path, 'CG_ERR_POLICY_REQUIRED', 'required field is missing')
            : issueAt(source, path, 'CG_ERR_POLICY_TYPE', `expected ${zi.expected}`),
        );
        break;
      case 'invalid_value':
        out.push(
          zi.input === undefined
            ? issueAt(source, path, 'CG_ERR_POLICY_REQUIRED', 'required field is missing')
            : issueAt(
                source,
                path,
                'CG_ERR_POLICY_ENUM',
                `expected one of ${zi.values.map(String).join(', ')}`,
              ),
        );
        break;
      case 'too_small':
        out.push(issueAt(source, path, 'CG_ERR_POLICY_EMPTY', 'must not be empty'));
        break;
      case 'custom': {
        const cg = (zi.params as { cg?: PolicyIssueCode } | undefined)?.cg ?? 'CG_ERR_POLICY_VALUE';
        out.push(issueAt(source, path, cg, zi.message));
        break;
      }
      default:
        out.push(issueAt(source, path, 'CG_ERR_POLICY_VALUE', zi.message));
    }
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Attestor names as written, even when the rest of the document is invalid (so every error shows at once). */
function collectRawAttestorNames(
  list: unknown,
  source: string,
  pathOf: (index: number) => PropertyKey[],
  out: { name: string; source: string; path: PropertyKey[] }[],
): void {
  if (!Array.isArray(list)) return;
  list.forEach((a, i) => {
    if (isRecord(a) && typeof a['name'] === 'string') out.push({ name: a['name'], source, path: pathOf(i) });
  });
}

function checkRuleReferences(
  doc: unknown,
  source: string,
  names: readonly string[],
  issues: PolicyIssue[],
): void {
  if (!isRecord(doc)) return;
  const rules: [PropertyKey[], unknown][] = [[['defaultAdmissionRule'], doc['defaultAdmissionRule']]];
  for (const field of ['kubernetesNamespaceAdmissionRules', 'clusterAdmissionRules']) {
    const map = doc[field];
    if (isRecord(map)) for (const [k, r] of Object.entries(map)) rules.push([[field, k], r]);
  }
  const extension = doc['criguard'];
  const imageRules = isRecord(extension) ? extension['imageRules'] : undefined;
  if (Array.isArray(imageRules)) {
    imageRules.forEach((r, i) => rules.push([['criguard', 'imageRules', i], r]));
  }
  for (const [path, rule] of rules) {
    const refs = isRecord(rule) ? rule['requireAttestationsBy'] : undefined;
    if (!Array.isArray(refs)) continue;
    refs.forEach((ref, i) => {
      if (typeof ref !== 'string') return;
      const r = resolveAttestorName(ref, names);
      const at = [...path, 'requireAttestationsBy', i];
      if (r.kind === 'unknown')
        issues.push(issueAt(source, at, 'CG_ERR_POLICY_ATTESTOR_UNKNOWN', `no attestor ${ref}`));
      if (r.kind === 'ambiguous') {
        issues.push(
          issueAt(
            source,
            at,
            'CG_ERR_POLICY_ATTESTOR_AMBIGUOUS',
            `${ref} matches several attestors; use the full name`,
          ),
        );
      }
    });
  }
}
