import test from 'ava';
import type {
  ConfirmPull,
  CreateFacts,
  PodFacts,
  PullAdmission,
  PullFacts,
} from '../../src/admission/admission.js';
import { createAdmission, type AdmissionDependencies } from '../../src/admission/controller.js';
import type { DecisionRecord } from '../../src/admission/decision-record.js';
import type { ImageFacts } from '../../src/admission/ports.js';
import { VerdictCache } from '../../src/cache/verdict-cache.js';
import type { ErrorCode } from '../../src/errors/catalog.js';
import type { CompiledPolicy } from '../../src/policy/types.js';
import type { AttestationRecord } from '../../src/verify/attestation.js';
import { policyFrom } from '../policy/policy-fixtures.js';
import { attestorDoc, digestOf, makeKey, payloadFor, rule, signWith } from '../verify/fixtures.js';

const key = makeKey('ECDSA_P256_SHA256');
const otherKey = makeKey('ECDSA_P256_SHA256');
const NAME = 'registry.example/team/app';
const SIGNED = digestOf('signed');
const UNSIGNED = digestOf('unsigned');
const CONFIG = digestOf('config');

function policyWith(extra: object = {}): CompiledPolicy {
  return policyFrom({
    defaultAdmissionRule: rule('REQUIRE_ATTESTATION', ['builder']),
    kubernetesNamespaceAdmissionRules: {
      'kube-system': rule('ALWAYS_ALLOW'),
      staging: rule('REQUIRE_ATTESTATION', ['builder'], 'DRYRUN_AUDIT_LOG_ONLY'),
      lenient: {
        ...rule('REQUIRE_ATTESTATION', ['builder']),
        criguard: { onUndecided: 'ALLOW', onUndecidedRegistries: ['registry.example'] },
      },
      locked: rule('ALWAYS_DENY'),
    },
    attestors: [attestorDoc('builder', [{ id: 'k1', key }])],
    ...extra,
  });
}

function attestation(digest: string, signer = key): AttestationRecord {
  const payload = payloadFor(NAME, digest);
  return { payload, signatures: [{ publicKeyId: 'k1', signature: signWith(signer, payload) }] };
}

interface Harness {
  deps: AdmissionDependencies;
  records: DecisionRecord[];
  fetches: string[];
  resolves: string[];
  setPolicy(p: CompiledPolicy): void;
  evidence: Map<string, AttestationRecord[] | Error>;
  images: Map<string, ImageFacts | Error>;
  tags: Map<string, string | Error>;
}

function harness(
  overrides: Partial<AdmissionDependencies> = {},
): Harness & ReturnType<typeof createAdmission> {
  let policy = policyWith();
  const h: Omit<Harness, 'deps'> = {
    records: [],
    fetches: [],
    resolves: [],
    setPolicy: (p) => (policy = p),
    evidence: new Map([[SIGNED, [attestation(SIGNED)]]]),
    images: new Map(),
    tags: new Map([
      [`${NAME}:v1`, SIGNED],
      [`${NAME}:v2`, UNSIGNED],
    ]),
  };
  const deps: AdmissionDependencies = {
    policy: () => policy,
    resolver: {
      resolve: async (ref) => {
        h.resolves.push(ref.canonical);
        const found = h.tags.get(ref.canonical);
        if (found instanceof Error) throw found;
        if (!found) throw Object.assign(new Error('manifest unknown'), { code: 'CG_ERR_REGISTRY_NOT_FOUND' });
        return found;
      },
    },
    evidence: [
      {
        fetch: async (image) => {
          h.fetches.push(image.digest);
          await new Promise((r) => setTimeout(r, 5));
          const found = h.evidence.get(image.digest);
          if (found instanceof Error) throw found;
          return found ?? [];
        },
      },
    ],
    images: {
      lookup: async (image) => {
        const found = h.images.get(image);
        if (found instanceof Error) throw found;
        return found;
      },
    },
    cache: new VerdictCache({ maxEntries: 100, allowTtlMs: 60_000, denyTtlMs: 1000, now: Date.now }),
    sink: { record: (r) => h.records.push(r) },
    clock: Date.now,
    budgetMs: 10_000, // generous: verification runs in the threadpool, slow on a loaded machine
    ...overrides,
  };
  return Object.assign(h, { deps }, createAdmission(deps));
}

const pod = (namespace = 'default'): PodFacts => ({
  namespace,
  name: 'web-1',
  uid: 'uid-1',
  labels: {},
  annotations: {},
});
const pull = (image: string, namespace?: string): PullFacts => ({
  image,
  pod: pod(namespace),
  credentials: undefined,
});
const create = (image: string, namespace?: string, volumeImages: string[] = []): CreateFacts => ({
  image,
  userSpecifiedImage: '',
  volumeImages,
  containerName: 'app',
  podSandboxId: 'sb',
  pod: pod(namespace),
});
const signal = () => new AbortController().signal;

/** The confirm step an allowed pull carries (fails the test when the pull was refused). */
function confirmOf(admitted: PullAdmission): ConfirmPull {
  if (!admitted.allowed) throw new Error(`pull refused: ${admitted.reason}`);
  return admitted.confirm;
}

test('a signed digest is admitted; an unsigned one is denied with the attestor, digest and rule', async (t) => {
  const a = harness();
  const admitted = await a.admitPull(pull(`${NAME}@${SIGNED}`), signal());
  t.true(admitted.allowed);
  t.is(typeof (admitted as { confirm?: unknown }).confirm, 'function');
  const denied = await a.admitPull(pull(`${NAME}@${UNSIGNED}`), signal());
  t.false(denied.allowed);
  if (!denied.allowed) {
    t.is(denied.kind, 'denied');
    t.true(
      denied.reason.includes(UNSIGNED) &&
        denied.reason.includes('builder') &&
        denied.reason.includes('default rule'),
    );
  }
  t.deepEqual(
    a.records.map((r) => [r.outcome, r.reason]),
    [
      ['allow', 'ATTESTATIONS_SATISFIED'],
      ['deny', 'ATTESTOR_MISSING'],
    ],
  );
  t.is(a.records[0]!.imageName, NAME);
  t.deepEqual(a.records[0]!.digests, [SIGNED]);
});

test('tags are resolved through the registry; the digest is what gets verified', async (t) => {
  const a = harness();
  t.true((await a.admitPull(pull(`${NAME}:v1`), signal())).allowed);
  t.false((await a.admitPull(pull(`${NAME}:v2`), signal())).allowed);
  t.deepEqual(a.resolves, [`${NAME}:v1`, `${NAME}:v2`]);
  t.deepEqual(
    a.records.map((r) => r.digests[0]),
    [SIGNED, UNSIGNED],
  );
});

test('signature by a key outside the attestor → deny', async (t) => {
  const a = harness();
  a.evidence.set(UNSIGNED, [attestation(UNSIGNED, otherKey)]);
  const out = await a.admitPull(pull(`${NAME}@${UNSIGNED}`), signal());
  t.false(out.allowed);
  t.is(a.records[0]!.verdict?.missing[0]?.reason, 'SIGNATURE_INVALID');
});

const undecidedCases: Array<[string, (h: Harness) => void, ErrorCode, 'registry-unavailable' | 'denied']> = [
  [
    'registry_down_at_resolve_fail',
    (h) =>
      h.tags.set(
        `${NAME}:v1`,
        Object.assign(new Error('ECONNREFUSED'), { code: 'CG_ERR_REGISTRY_UNAVAILABLE' }),
      ),
    'CG_ERR_REGISTRY_UNAVAILABLE',
    'registry-unavailable',
  ],
  [
    'registry_down_at_fetch_fail',
    (h) => h.evidence.set(SIGNED, Object.assign(new Error('503'), { code: 'CG_ERR_REGISTRY_UNAVAILABLE' })),
    'CG_ERR_REGISTRY_UNAVAILABLE',
    'registry-unavailable',
  ],
  ['tag_not_found_fail', (h) => h.tags.delete(`${NAME}:v1`), 'CG_ERR_REGISTRY_NOT_FOUND', 'denied'],
  ['internal_error_fail', (h) => h.evidence.set(SIGNED, new Error('bug')), 'CG_ERR_INTERNAL', 'denied'],
];
for (const [name, breakIt, code, kind] of undecidedCases) {
  test(name, async (t) => {
    const a = harness();
    breakIt(a);
    const out = await a.admitPull(pull(`${NAME}:v1`), signal());
    t.false(out.allowed);
    if (!out.allowed) t.is(out.kind, kind);
    t.is(a.records.length, 1);
    t.is(a.records[0]!.errorCode, code);
    t.is(a.records[0]!.reason, 'UNDECIDED');
  });
}

test('verification_timeout_fail: the time budget ends in a deny (RegistryUnavailable)', async (t) => {
  const a = harness({ budgetMs: 50 });
  (a.deps.evidence as { fetch: unknown }[])[0]!.fetch = () => new Promise(() => undefined);
  const out = await a.admitPull(pull(`${NAME}@${SIGNED}`), signal());
  t.deepEqual(out.allowed ? undefined : out.kind, 'registry-unavailable');
  t.is(a.records[0]!.errorCode, 'CG_ERR_TIMEOUT');
});

test('cancelled_call_fail: a client that goes away gets no allow', async (t) => {
  const a = harness();
  (a.deps.evidence as { fetch: unknown }[])[0]!.fetch = () => new Promise(() => undefined);
  const controller = new AbortController();
  const pending = a.admitPull(pull(`${NAME}@${SIGNED}`), controller.signal);
  controller.abort();
  t.false((await pending).allowed);
  t.is(a.records[0]!.errorCode, 'CG_ERR_CANCELLED');
});

test('onUndecided: ALLOW admits when the registry is down, and the record says so', async (t) => {
  const a = harness();
  a.evidence.set(SIGNED, Object.assign(new Error('down'), { code: 'CG_ERR_REGISTRY_UNAVAILABLE' }));
  t.true((await a.admitPull(pull(`${NAME}@${SIGNED}`, 'lenient'), signal())).allowed);
  t.is(a.records[0]!.reason, 'UNDECIDED_ALLOWED_BY_RULE');
  t.is(a.records[0]!.outcome, 'allow');
});

test('dry run admits a would-be deny and records the verdict it would have given', async (t) => {
  const a = harness();
  t.true((await a.admitPull(pull(`${NAME}@${UNSIGNED}`, 'staging'), signal())).allowed);
  const r = a.records[0]!;
  t.is(r.outcome, 'allow');
  t.true(r.dryRun);
  t.is(r.wouldBe, 'deny');
  t.truthy(r.message?.includes('builder'));
});

test('namespace rules: ALWAYS_ALLOW needs no registry at all; ALWAYS_DENY denies', async (t) => {
  const a = harness();
  t.true((await a.admitPull(pull(`${NAME}:anything`, 'kube-system'), signal())).allowed);
  t.deepEqual(a.resolves, []);
  t.false((await a.admitPull(pull(`${NAME}@${SIGNED}`, 'locked'), signal())).allowed);
  t.is(a.records[1]!.reason, 'ALWAYS_DENY');
});

test('an invalid reference is denied cleanly, without asking the registry, even at 1 MiB', async (t) => {
  const a = harness();
  for (const bad of ['', ' ', 'docker://nginx', 'NGINX', 'nginx\u0000', 'a'.repeat(1 << 20)]) {
    const out = await a.admitPull(pull(bad), signal());
    t.false(out.allowed);
    if (!out.allowed) t.is(out.kind, 'bad-request');
  }
  t.deepEqual(a.resolves, []);
  t.true(a.records.every((r) => r.reason === 'INVALID_REFERENCE'));
});

test('200 concurrent pulls of one digest → one verification; the verdict is reused afterwards', async (t) => {
  const a = harness();
  const outs = await Promise.all(
    Array.from({ length: 200 }, () => a.admitPull(pull(`${NAME}@${SIGNED}`), signal())),
  );
  t.true(outs.every((o) => o.allowed));
  t.deepEqual(a.fetches, [SIGNED]);
  await a.admitPull(pull(`${NAME}@${SIGNED}`), signal());
  t.is(a.fetches.length, 1);
  t.true(a.records.at(-1)!.cacheHit);
  t.is(a.records.length, 201, 'one record per decision');
});

test('a policy change (key rotation) invalidates cached verdicts', async (t) => {
  const a = harness();
  t.true((await a.admitPull(pull(`${NAME}@${SIGNED}`), signal())).allowed);
  a.setPolicy(
    policyFrom({
      defaultAdmissionRule: rule('REQUIRE_ATTESTATION', ['builder']),
      attestors: [attestorDoc('builder', [{ id: 'k2', key: otherKey }])],
    }),
  );
  t.false((await a.admitPull(pull(`${NAME}@${SIGNED}`), signal())).allowed);
  t.is(a.fetches.length, 2);
});

test('after the pull: containerd must hold the verified digest, else the image is not admitted', async (t) => {
  const a = harness();
  const admitted = await a.admitPull(pull(`${NAME}:v1`), signal());
  a.images.set(CONFIG, { id: CONFIG, repoDigests: [`${NAME}@${SIGNED}`], repoTags: [`${NAME}:v1`] });
  t.true((await confirmOf(admitted)(CONFIG, signal())).allowed);

  const swapped = await a.admitPull(pull(`${NAME}:v1`), signal());
  a.images.set(CONFIG, { id: CONFIG, repoDigests: [`${NAME}@${UNSIGNED}`], repoTags: [`${NAME}:v1`] });
  const out = await confirmOf(swapped)(CONFIG, signal());
  t.false(out.allowed);
  t.is(a.records.at(-1)!.errorCode, 'CG_ERR_PULLED_DIGEST_MISMATCH');
});

test('CreateContainer maps the image id to repo digests and evaluates them', async (t) => {
  const a = harness();
  a.images.set(CONFIG, { id: CONFIG, repoDigests: [`${NAME}@${SIGNED}`], repoTags: [] });
  const other = digestOf('other-config');
  a.images.set(other, { id: other, repoDigests: [`${NAME}@${UNSIGNED}`], repoTags: [] });
  t.true((await a.admitCreate(create(CONFIG), signal())).allowed);
  t.false((await a.admitCreate(create(other), signal())).allowed);
  t.deepEqual(
    a.records.map((r) => [r.method, r.outcome, r.container]),
    [
      ['CreateContainer', 'allow', 'app'],
      ['CreateContainer', 'deny', 'app'],
    ],
  );
});

test('CreateContainer: no registry digest, absent image, containerd failure and image volumes all deny', async (t) => {
  const a = harness();
  const imported = digestOf('imported');
  a.images.set(imported, { id: imported, repoDigests: [], repoTags: [`${NAME}:local`] });
  a.images.set(CONFIG, { id: CONFIG, repoDigests: [`${NAME}@${SIGNED}`], repoTags: [] });
  const broken = digestOf('broken');
  a.images.set(broken, Object.assign(new Error('containerd down'), { code: 'CG_ERR_UPSTREAM' }));
  t.false((await a.admitCreate(create(imported), signal())).allowed);
  t.is(a.records.at(-1)!.errorCode, 'CG_ERR_NO_REGISTRY_DIGEST');
  t.false((await a.admitCreate(create(digestOf('absent')), signal())).allowed);
  t.is(a.records.at(-1)!.errorCode, 'CG_ERR_IMAGE_NOT_PRESENT');
  t.false((await a.admitCreate(create(broken), signal())).allowed);
  t.is(a.records.at(-1)!.errorCode, 'CG_ERR_UPSTREAM');
  t.false(
    (await a.admitCreate(create(CONFIG, 'default', [imported]), signal())).allowed,
    'an unverified image volume denies',
  );
  t.true(
    (await a.admitCreate(create(imported, 'kube-system'), signal())).allowed,
    'ALWAYS_ALLOW needs no digest',
  );
});

test('node-critical images pinned by digest pass even under ALWAYS_DENY', async (t) => {
  const a = harness();
  a.setPolicy(
    policyFrom({
      defaultAdmissionRule: rule('ALWAYS_DENY'),
      criguard: { nodeCriticalImages: [`${NAME}@${UNSIGNED}`] },
    }),
  );
  t.true((await a.admitPull(pull(`${NAME}@${UNSIGNED}`), signal())).allowed);
  t.is(a.records[0]!.reason, 'NODE_CRITICAL');
  t.false((await a.admitPull(pull(`${NAME}@${SIGNED}`), signal())).allowed, 'pinned by digest, not by name');
});

test('sources are asked in order and only while the rule is not satisfied', async (t) => {
  const asked: string[] = [];
  const a = harness({
    evidence: [
      {
        fetch: async (image) => (
          asked.push(`local ${image.digest}`),
          image.digest === SIGNED ? [attestation(SIGNED)] : []
        ),
      },
      {
        fetch: async (image) => {
          asked.push(`registry ${image.digest}`);
          throw Object.assign(new Error('down'), { code: 'CG_ERR_REGISTRY_UNAVAILABLE' });
        },
      },
    ],
  });
  t.true(
    (await a.admitPull(pull(`${NAME}@${SIGNED}`), signal())).allowed,
    'local evidence suffices; registry not asked',
  );
  const out = await a.admitPull(pull(`${NAME}@${UNSIGNED}`), signal());
  t.deepEqual(
    out.allowed ? undefined : out.kind,
    'registry-unavailable',
    'not satisfied locally, registry down: undecided',
  );
  t.deepEqual(asked, [`local ${SIGNED}`, `local ${UNSIGNED}`, `registry ${UNSIGNED}`]);
});

test('a breakglass grant turns a deny into an allow, audited with what it overrode', async (t) => {
  const asked: Array<{
    namespace: string | undefined;
    imageName: string | undefined;
    digest: string | undefined;
  }> = [];
  const a = harness({
    breakglass: {
      grantFor: (request) => {
        asked.push(request);
        return request.namespace === 'payments'
          ? {
              reason: 'INC-1',
              ticket: 'T-1',
              createdBy: 'oncall',
              expiresAt: '2030-01-01T00:00:00Z',
              fileSha256: 'sha256:ab',
              matched: ['namespace:payments'],
            }
          : undefined;
      },
    },
  });
  t.true((await a.admitPull(pull(`${NAME}@${UNSIGNED}`, 'payments'), signal())).allowed);
  const r = a.records[0]!;
  t.is(r.reason, 'BREAKGLASS');
  t.is(r.breakglass?.fileSha256, 'sha256:ab');
  t.is(r.breakglass?.overridden.reason, 'ATTESTOR_MISSING');
  t.truthy(r.breakglass?.overridden.message?.includes(UNSIGNED));
  t.deepEqual(asked[0], { namespace: 'payments', imageName: NAME, digest: UNSIGNED });
  t.false((await a.admitPull(pull(`${NAME}@${UNSIGNED}`, 'default'), signal())).allowed, 'out of scope');
  t.true((await a.admitPull(pull(`${NAME}@${SIGNED}`, 'payments'), signal())).allowed);
  t.is(a.records[2]!.breakglass, undefined, 'an allow is not an override');
});

test('the pod label breakglass is honoured only when enabled', async (t) => {
  const labelled = (namespace: string): PullFacts => ({
    image: `${NAME}@${UNSIGNED}`,
    pod: { ...pod(namespace), labels: { 'image-policy.k8s.io/break-glass': 'true' } },
    credentials: undefined,
  });
  t.false((await harness().admitPull(labelled('default'), signal())).allowed);
  const a = harness({ podBreakglassLabel: true });
  t.true((await a.admitPull(labelled('default'), signal())).allowed);
  t.is(a.records[0]!.breakglass?.source, 'pod-label');
});

test('re-validation reports violations even under breakglass', async (t) => {
  const a = harness({
    breakglass: {
      grantFor: () => ({
        reason: 'x',
        ticket: undefined,
        createdBy: undefined,
        expiresAt: undefined,
        fileSha256: undefined,
        matched: ['all'],
      }),
    },
  });
  a.images.set(CONFIG, { id: CONFIG, repoDigests: [`${NAME}@${UNSIGNED}`], repoTags: [] });
  t.true((await a.admitCreate(create(CONFIG), signal())).allowed);
  t.false((await a.revalidate(create(CONFIG), signal())).allowed);
  t.is(a.records[1]!.method, 'Revalidation');
});

test('onUndecided_allow_on_bad_evidence_fail: ALLOW covers an unreachable registry only', async (t) => {
  const a = harness();
  a.evidence.set(
    UNSIGNED,
    Object.assign(new Error('garbage .sig manifest'), { code: 'CG_ERR_REGISTRY_PROTOCOL' }),
  );
  const out = await a.admitPull(pull(`${NAME}@${UNSIGNED}`, 'lenient'), signal());
  t.false(out.allowed, JSON.stringify(a.records[0]));
  t.is(a.records[0]!.reason, 'UNDECIDED');
  const imported = digestOf('imported-lenient');
  a.images.set(imported, { id: imported, repoDigests: [], repoTags: [] });
  t.false(
    (await a.admitCreate(create(imported, 'lenient'), signal())).allowed,
    'no registry digest is no outage',
  );
});

test('no_registry_digest_name_pattern_fail: a name allowlist does not admit an image without a registry digest', async (t) => {
  const a = harness();
  const imported = digestOf('imported-allowlisted');
  a.setPolicy(policyWith({ admissionWhitelistPatterns: [{ namePattern: `${NAME}` }] }));
  a.images.set(imported, { id: imported, repoDigests: [], repoTags: [`${NAME}:local`] });
  t.false((await a.admitCreate(create(imported), signal())).allowed);
  t.is(a.records[0]!.errorCode, 'CG_ERR_NO_REGISTRY_DIGEST');
});

test('multi-arch: when the index evidence cannot be fetched, a signed platform manifest still admits', async (t) => {
  const INDEX = digestOf('index');
  const PLATFORM = SIGNED;
  const a = harness({
    platforms: {
      platformManifest: async (image) =>
        image.digest === INDEX ? { digest: PLATFORM, configDigest: CONFIG } : undefined,
    },
  });
  a.evidence.set(INDEX, Object.assign(new Error('401 anonymous'), { code: 'CG_ERR_REGISTRY_DENIED' }));
  a.images.set(CONFIG, { id: CONFIG, repoDigests: [`${NAME}@${INDEX}`], repoTags: [] });
  t.true((await a.admitCreate(create(CONFIG), signal())).allowed);
  t.deepEqual(a.records[0]!.digests, [INDEX, PLATFORM]);
  const other = digestOf('other-config');
  a.images.set(other, { id: other, repoDigests: [`${NAME}@${INDEX}`], repoTags: [] });
  t.false(
    (await a.admitCreate(create(other), signal())).allowed,
    'the platform manifest must be the image that runs',
  );
  t.is(a.records[1]!.errorCode, 'CG_ERR_REGISTRY_DENIED');
});

test('breakglass_scope_image_volume_fail: a breakglass for image A does not admit an unsigned image volume B', async (t) => {
  const OTHER = 'registry.example/other/tool';
  const volume = digestOf('volume-config');
  const main = digestOf('main-config');
  const a = harness({
    breakglass: {
      grantFor: (request) =>
        request.imageName === NAME
          ? {
              reason: 'INC-2',
              ticket: undefined,
              createdBy: undefined,
              expiresAt: undefined,
              fileSha256: 'sha256:cd',
              matched: [`image:${NAME}`],
            }
          : undefined,
    },
  });
  a.images.set(main, { id: main, repoDigests: [`${NAME}@${UNSIGNED}`], repoTags: [] });
  a.images.set(volume, { id: volume, repoDigests: [`${OTHER}@${UNSIGNED}`], repoTags: [] });
  a.images.set(CONFIG, { id: CONFIG, repoDigests: [`${NAME}@${SIGNED}`], repoTags: [] });

  const denied = await a.admitCreate(create(main, 'default', [volume]), signal());
  t.false(denied.allowed, 'the volume is out of the breakglass scope');
  const r = a.records.at(-1)!;
  t.is(r.outcome, 'deny');
  t.is(r.imageName, OTHER, 'the record names the image that was refused');
  t.deepEqual(
    r.images?.map((i) => [i.image, i.imageName, i.outcome, i.reason, i.breakglass?.source]),
    [
      [main, NAME, 'allow', 'BREAKGLASS', 'file'],
      [volume, OTHER, 'deny', 'ATTESTOR_MISSING', undefined],
    ],
  );

  // Order does not matter: the unsigned volume denies even when the container's own image is signed.
  t.false((await a.admitCreate(create(CONFIG, 'default', [volume]), signal())).allowed);
  // A volume the breakglass covers is admitted, and the record says a breakglass was used.
  t.true((await a.admitCreate(create(CONFIG, 'default', [main]), signal())).allowed);
  const allowed = a.records.at(-1)!;
  t.is(allowed.reason, 'BREAKGLASS');
  t.deepEqual(
    allowed.images?.map((i) => [i.outcome, i.reason]),
    [
      ['allow', 'ATTESTATIONS_SATISFIED'],
      ['allow', 'BREAKGLASS'],
    ],
  );
});

test('a container with more images than the bound is refused without asking containerd', async (t) => {
  const a = harness({
    images: {
      lookup: () => {
        throw new Error('containerd must not be asked');
      },
    },
  });
  const many = Array.from({ length: 40 }, (_, i) => digestOf(`v${i}`));
  const out = await a.admitCreate(create(CONFIG, 'default', many), signal());
  t.false(out.allowed);
  t.is(a.records.at(-1)!.errorCode, 'CG_ERR_TOO_MANY_IMAGES');
});

test('tenant_name_blocks_create_fail: a name on a failing registry does not spoil the victim’s good name', async (t) => {
  const HOSTILE = 'hostile.example/attacker/copy';
  const a = harness({
    evidence: [
      {
        fetch: async (image) => {
          if (image.name === HOSTILE)
            throw Object.assign(new Error('connection refused'), { code: 'CG_ERR_REGISTRY_UNAVAILABLE' });
          return image.digest === SIGNED ? [attestation(SIGNED)] : [];
        },
      },
    ],
  });
  // The attacker attached its own name (on a registry it makes fail) to the victim's image id, first.
  a.images.set(CONFIG, {
    id: CONFIG,
    repoDigests: [`${HOSTILE}@${SIGNED}`, `${NAME}@${SIGNED}`],
    repoTags: [],
  });
  t.true((await a.admitCreate(create(CONFIG), signal())).allowed, 'the signed name admits');
  t.is(a.records.at(-1)!.imageName, NAME);

  // Only failing or denying names: refused (undecided when nothing could be judged).
  const lone = digestOf('lone');
  a.images.set(lone, { id: lone, repoDigests: [`${HOSTILE}@${SIGNED}`], repoTags: [] });
  const out = await a.admitCreate(create(lone), signal());
  t.false(out.allowed);
  t.is(a.records.at(-1)!.errorCode, 'CG_ERR_REGISTRY_UNAVAILABLE');
  // A deny by one name and a failure of another: the deny is reported, not the failure.
  const mixed = digestOf('mixed');
  a.images.set(mixed, {
    id: mixed,
    repoDigests: [`${HOSTILE}@${UNSIGNED}`, `${NAME}@${UNSIGNED}`],
    repoTags: [],
  });
  t.false((await a.admitCreate(create(mixed), signal())).allowed);
  t.is(a.records.at(-1)!.reason, 'ATTESTOR_MISSING');
});

test('several names: a cached allow is asked first, a registry that failed lately last', async (t) => {
  const asked: string[] = [];
  const SLOW = 'down.example/team/app';
  const a = harness({
    evidence: [
      {
        fetch: async (image) => {
          asked.push(image.name);
          if (image.name === SLOW) throw Object.assign(new Error('no answer'), { code: 'CG_ERR_TIMEOUT' });
          return image.digest === SIGNED ? [attestation(SIGNED)] : [];
        },
      },
    ],
  });
  a.images.set(CONFIG, { id: CONFIG, repoDigests: [`${SLOW}@${SIGNED}`, `${NAME}@${SIGNED}`], repoTags: [] });
  t.true((await a.admitCreate(create(CONFIG), signal())).allowed);
  t.deepEqual(asked, [SLOW, NAME]);
  asked.length = 0;
  t.true((await a.admitCreate(create(CONFIG), signal())).allowed);
  t.deepEqual(asked, [], 'the cached allow of the good name is used; the failing registry is not asked');
  t.true(a.records.at(-1)!.cacheHit);
});

test('create_by_tag_check_then_use_fail: CreateContainer takes content-addressed image ids only', async (t) => {
  const looked: string[] = [];
  const a = harness({
    images: {
      lookup: async (image) => {
        looked.push(image);
        return { id: CONFIG, repoDigests: [`${NAME}@${SIGNED}`], repoTags: [`${NAME}:v1`] };
      },
    },
  });
  for (const image of [`${NAME}:v1`, NAME, `${NAME}@${SIGNED}`, CONFIG.slice(7), CONFIG.slice(0, 20)]) {
    const out = await a.admitCreate(create(image), signal());
    t.false(out.allowed, image);
    if (!out.allowed) t.is(out.kind, 'bad-request');
    t.is(a.records.at(-1)!.reason, 'IMAGE_NOT_CONTENT_ADDRESSED');
  }
  t.false(
    (await a.admitCreate(create(CONFIG, 'default', [`${NAME}:v1`]), signal())).allowed,
    'an image volume by tag too',
  );
  t.deepEqual(looked, [CONFIG], 'a tag is never resolved, so nothing can move under it');
  t.true((await a.admitCreate(create(CONFIG), signal())).allowed, 'the image id is judged');
  t.true((await a.admitCreate(create(`${NAME}:v1`, 'kube-system'), signal())).allowed, 'ALWAYS_ALLOW');
  t.true((await a.admitCreate(create(`${NAME}:v1`, 'staging'), signal())).allowed, 'dry run');

  // containerd must answer for the id it was asked about.
  const other = digestOf('other');
  t.false((await a.admitCreate(create(other), signal())).allowed);
  t.is(a.records.at(-1)!.errorCode, 'CG_ERR_IMAGE_ID_MISMATCH');
});

test('platform_binding_fail: after the pull, containerd must run the platform manifest that was judged', async (t) => {
  const INDEX = digestOf('index');
  const a = harness({
    platforms: {
      platformManifest: async (image) =>
        image.digest === INDEX ? { digest: SIGNED, configDigest: CONFIG } : undefined,
    },
  });
  const admitted = await a.admitPull(pull(`${NAME}@${INDEX}`), signal());
  t.true(admitted.allowed, 'the signed platform manifest admits the unsigned index');
  // containerd took another entry of the index (say, an alias of the platform listed first).
  const unsignedConfig = digestOf('unsigned-config');
  a.images.set(unsignedConfig, { id: unsignedConfig, repoDigests: [`${NAME}@${INDEX}`], repoTags: [] });
  const out = await confirmOf(admitted)(unsignedConfig, signal());
  t.false(out.allowed);
  const r = a.records.at(-1)!;
  t.is(r.reason, 'PULL_PLATFORM_MISMATCH');
  t.is(r.errorCode, 'CG_ERR_PULLED_PLATFORM_MISMATCH');
  t.deepEqual(r.digests, [INDEX, SIGNED]);
  // The judged one confirms.
  a.images.set(CONFIG, { id: CONFIG, repoDigests: [`${NAME}@${INDEX}`], repoTags: [] });
  const again = await a.admitPull(pull(`${NAME}@${INDEX}`), signal());
  t.true((await confirmOf(again)(CONFIG, signal())).allowed);
});

test('undecided_allow_steered_by_pod_author_fail: onUndecided: ALLOW covers only the registries the operator named', async (t) => {
  const HOSTILE = 'hostile.example/attacker/app';
  const hang = Object.assign(new Error('no answer'), { code: 'CG_ERR_TIMEOUT' });
  const a = harness();
  a.tags.set(`${HOSTILE}:v1`, hang);
  a.evidence.set(UNSIGNED, hang);
  // The pod author names a registry it controls and makes it hang for criguard: denied.
  for (const image of [`${HOSTILE}@${UNSIGNED}`, `${HOSTILE}:v1`]) {
    const out = await a.admitPull(pull(image, 'lenient'), signal());
    t.false(out.allowed, image);
    t.is(a.records.at(-1)!.reason, 'UNDECIDED');
  }
  // The same outage of the registry the operator named admits, audited.
  t.true((await a.admitPull(pull(`${NAME}@${UNSIGNED}`, 'lenient'), signal())).allowed);
  t.is(a.records.at(-1)!.reason, 'UNDECIDED_ALLOWED_BY_RULE');
  // At create, the name containerd recorded decides, never another tenant's name.
  const id = digestOf('hostile-config');
  a.images.set(id, { id, repoDigests: [`${HOSTILE}@${UNSIGNED}`], repoTags: [] });
  t.false((await a.admitCreate(create(id, 'lenient'), signal())).allowed);
  const named = digestOf('named-config');
  a.images.set(named, { id: named, repoDigests: [`${NAME}@${UNSIGNED}`], repoTags: [] });
  t.true((await a.admitCreate(create(named, 'lenient'), signal())).allowed);
  t.is(a.records.at(-1)!.reason, 'UNDECIDED_ALLOWED_BY_RULE');
});

test('undecided allow: the post-pull check still binds the pull to what containerd fetched', async (t) => {
  const hang = Object.assign(new Error('no answer'), { code: 'CG_ERR_TIMEOUT' });
  const a = harness();
  // Resolved, then the evidence timed out: the resolved digest must be what containerd holds.
  a.evidence.set(UNSIGNED, hang);
  const resolved = await a.admitPull(pull(`${NAME}:v2`, 'lenient'), signal());
  a.images.set(CONFIG, { id: CONFIG, repoDigests: [`${NAME}@${SIGNED}`], repoTags: [] });
  t.false((await confirmOf(resolved)(CONFIG, signal())).allowed, 'containerd got another digest');
  t.is(a.records.at(-1)!.reason, 'PULL_DIGEST_MISMATCH');
  // Not even resolved: containerd must hold the admitted name; the record names the digest that came in.
  a.tags.set(`${NAME}:v3`, hang);
  const blind = await a.admitPull(pull(`${NAME}:v3`, 'lenient'), signal());
  t.is(a.records.at(-1)!.reason, 'UNDECIDED_ALLOWED_BY_RULE');
  t.true((await confirmOf(blind)(CONFIG, signal())).allowed);
  t.deepEqual([a.records.at(-1)!.reason, a.records.at(-1)!.digests], ['UNDECIDED_ALLOWED_BY_RULE', [SIGNED]]);
  const other = digestOf('other-image');
  a.images.set(other, { id: other, repoDigests: ['registry.example/else/where@' + SIGNED], repoTags: [] });
  const blind2 = await a.admitPull(pull(`${NAME}:v3`, 'lenient'), signal());
  t.false((await confirmOf(blind2)(other, signal())).allowed);
});

test('undecided at create: settled under the pod’s own name, not a name another tenant attached', async (t) => {
  const HOSTILE = 'hostile.example/attacker/app';
  const down = Object.assign(new Error('down'), { code: 'CG_ERR_REGISTRY_UNAVAILABLE' });
  const a = harness({
    evidence: [
      {
        fetch: async () => {
          throw down;
        },
      },
    ],
  });
  const id = digestOf('both-down');
  a.images.set(id, { id, repoDigests: [`${HOSTILE}@${UNSIGNED}`, `${NAME}@${UNSIGNED}`], repoTags: [] });
  const facts = { ...create(id, 'lenient'), userSpecifiedImage: `${NAME}:v1` };
  t.true((await a.admitCreate(facts, signal())).allowed, 'the operator-named registry is down');
  t.is(a.records.at(-1)!.reason, 'UNDECIDED_ALLOWED_BY_RULE');
  t.is(a.records.at(-1)!.imageName, NAME);
});
