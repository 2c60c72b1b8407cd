/**
 * The gated calls' fast paths (docs/adr/0006): a cached CreateContainer and a repeated PullImage are
 * decided without asking containerd when the image id is known to be a judged manifest's; each attack on
 * that shortcut is a test here.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import type {
  ConfirmPull,
  CreateFacts,
  PodFacts,
  PullAdmission,
  PullFacts,
} from '../../src/admission/admission.js';
import { createAdmission, type AdmissionDependencies } from '../../src/admission/controller.js';
import type { DecisionRecord } from '../../src/admission/decision-record.js';
import {
  JudgedImages,
  MAX_IMAGES_REMEMBERED,
  MAX_NAMES_PER_IMAGE,
} from '../../src/admission/judged-images.js';
import type { ImageFacts } from '../../src/admission/ports.js';
import { VerdictCache } from '../../src/cache/verdict-cache.js';
import type { CompiledPolicy } from '../../src/policy/types.js';
import type { AttestationRecord } from '../../src/verify/attestation.js';
import { policyFrom } from '../policy/policy-fixtures.js';
import { attestorDoc, digestOf, makeKey, payloadFor, rule, signWith } from '../verify/fixtures.js';

const key = makeKey('ECDSA_P256_SHA256');
const otherKey = makeKey('ECDSA_P256_SHA256');
const NAME = 'registry.example/team/app';
const SIGNED = digestOf('signed');
const UNSIGNED = digestOf('unsigned');
const CONFIG = digestOf('config'); // SIGNED's image id
const OTHER_CONFIG = digestOf('other-config'); // UNSIGNED's image id

function policyWith(keyDoc = key): CompiledPolicy {
  return policyFrom({
    defaultAdmissionRule: rule('REQUIRE_ATTESTATION', ['builder']),
    kubernetesNamespaceAdmissionRules: {
      'kube-system': rule('ALWAYS_ALLOW'),
      staging: rule('REQUIRE_ATTESTATION', ['builder'], 'DRYRUN_AUDIT_LOG_ONLY'),
      locked: rule('ALWAYS_DENY'),
    },
    attestors: [attestorDoc('builder', [{ id: 'k1', key: keyDoc }])],
  });
}

function attestation(digest: string): AttestationRecord {
  const payload = payloadFor(NAME, digest);
  return { payload, signatures: [{ publicKeyId: 'k1', signature: signWith(key, payload) }] };
}

function harness(overrides: Partial<AdmissionDependencies> = {}) {
  let policy = policyWith();
  const h = {
    records: [] as DecisionRecord[],
    /** Every containerd image look-up criguard made. */
    lookups: [] as string[],
    fetches: [] as string[],
    images: new Map<string, ImageFacts>(),
    tags: new Map([[`${NAME}:v1`, SIGNED]]),
    evidence: new Map([[SIGNED, [attestation(SIGNED)]]]),
    setPolicy: (p: CompiledPolicy) => (policy = p),
  };
  const deps: AdmissionDependencies = {
    policy: () => policy,
    resolver: {
      resolve: async (ref) => {
        const found = h.tags.get(ref.canonical);
        if (!found) throw Object.assign(new Error('manifest unknown'), { code: 'CG_ERR_REGISTRY_NOT_FOUND' });
        return found;
      },
    },
    evidence: [
      {
        fetch: async (image) => {
          h.fetches.push(image.digest);
          return h.evidence.get(image.digest) ?? [];
        },
      },
    ],
    images: {
      lookup: async (image) => {
        h.lookups.push(image);
        return h.images.get(image);
      },
    },
    cache: new VerdictCache({ maxEntries: 100, allowTtlMs: 60_000, denyTtlMs: 1000, now: Date.now }),
    sink: { record: (r) => h.records.push(r) },
    clock: Date.now,
    budgetMs: 10_000,
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
const create = (image: string, namespace?: string): CreateFacts => ({
  image,
  userSpecifiedImage: `${NAME}:v1`,
  volumeImages: [],
  containerName: 'app',
  podSandboxId: 'sb',
  pod: pod(namespace),
});
const signal = () => new AbortController().signal;

function confirmOf(admitted: PullAdmission): ConfirmPull {
  if (!admitted.allowed) throw new Error(`pull refused: ${admitted.reason}`);
  return admitted.confirm;
}

/** containerd holds `config` as the image of `name@digest`. */
function hold(h: ReturnType<typeof harness>, config: string, digest: string): void {
  h.images.set(config, { id: config, repoDigests: [`${NAME}@${digest}`], repoTags: [] });
}

/** Pulls NAME@SIGNED (or `ref`) through admission and confirms containerd's answer `imageRef`. */
async function pullAndConfirm(
  h: ReturnType<typeof harness>,
  ref: string,
  imageRef: string,
  namespace?: string,
) {
  const admitted = await h.admitPull(pull(ref, namespace), signal());
  return confirmOf(admitted)(imageRef, signal());
}

test('a cached CreateContainer asks containerd nothing once the pull confirmed its image id', async (t) => {
  const h = harness();
  hold(h, CONFIG, SIGNED);
  t.true((await pullAndConfirm(h, `${NAME}@${SIGNED}`, CONFIG)).allowed);
  t.deepEqual(h.lookups, [CONFIG], 'the first confirm asks containerd');
  for (let i = 0; i < 3; i++) t.true((await h.admitCreate(create(CONFIG), signal())).allowed);
  t.deepEqual(h.lookups, [CONFIG], 'no look-up for the creates');
  const r = h.records.at(-1)!;
  t.is(r.method, 'CreateContainer');
  t.is(r.outcome, 'allow');
  t.is(r.reason, 'ATTESTATIONS_SATISFIED');
  t.true(r.cacheHit);
  t.deepEqual(r.digests, [SIGNED]);
  t.is(r.imageName, NAME);
  t.deepEqual(h.fetches, [SIGNED], 'verified once');
});

test('a repeated pull is confirmed without a look-up when containerd answers the known image id', async (t) => {
  const h = harness();
  hold(h, CONFIG, SIGNED);
  t.true((await pullAndConfirm(h, `${NAME}@${SIGNED}`, CONFIG)).allowed);
  t.true((await pullAndConfirm(h, `${NAME}@${SIGNED}`, CONFIG)).allowed);
  t.deepEqual(h.lookups, [CONFIG]);
  // Another image id for the same digest is looked up, and refused when containerd does not hold it.
  hold(h, OTHER_CONFIG, UNSIGNED);
  const out = await pullAndConfirm(h, `${NAME}@${SIGNED}`, OTHER_CONFIG);
  t.false(out.allowed);
  t.deepEqual(h.lookups, [CONFIG, OTHER_CONFIG]);
  t.is(h.records.at(-1)!.errorCode, 'CG_ERR_PULLED_DIGEST_MISMATCH');
});

test('a CreateContainer learns from its own slow path: the next one asks containerd nothing', async (t) => {
  const h = harness();
  hold(h, CONFIG, SIGNED);
  t.true((await h.admitCreate(create(CONFIG), signal())).allowed);
  t.true((await h.admitCreate(create(CONFIG), signal())).allowed);
  t.deepEqual(h.lookups, [CONFIG]);
});

test('fast_path_tag_moved_fail: a tag moved between pull and create admits only the judged image id', async (t) => {
  const h = harness();
  hold(h, CONFIG, SIGNED);
  t.true((await pullAndConfirm(h, `${NAME}:v1`, CONFIG)).allowed);
  // The tag now names unsigned content; someone pulls it where the rule admits anything.
  h.tags.set(`${NAME}:v1`, UNSIGNED);
  hold(h, OTHER_CONFIG, UNSIGNED);
  t.true((await pullAndConfirm(h, `${NAME}:v1`, OTHER_CONFIG, 'kube-system')).allowed);
  // Through an enforced namespace the moved tag is refused at the pull, and containerd's answer of
  // another image id for the judged digest is refused at the confirm.
  t.false((await h.admitPull(pull(`${NAME}:v1`), signal())).allowed);
  h.tags.set(`${NAME}:v1`, SIGNED);
  t.false((await pullAndConfirm(h, `${NAME}:v1`, OTHER_CONFIG)).allowed);
  // CreateContainer of the unsigned image id in an enforced namespace: refused (asked containerd).
  const lookupsBefore = h.lookups.length;
  const out = await h.admitCreate(create(OTHER_CONFIG), signal());
  t.false(out.allowed);
  t.is(h.lookups.length, lookupsBefore + 1);
  t.is(h.records.at(-1)!.reason, 'ATTESTOR_MISSING');
  // The judged image id still runs.
  t.true((await h.admitCreate(create(CONFIG), signal())).allowed);
});

test('fast_path_repulled_other_content_fail: an image removed and pulled again with other content is judged again', async (t) => {
  const h = harness();
  hold(h, CONFIG, SIGNED);
  t.true((await pullAndConfirm(h, `${NAME}:v1`, CONFIG)).allowed);
  t.true((await h.admitCreate(create(CONFIG), signal())).allowed);
  // The image is removed; the same name now holds other content, pulled in a dry-run namespace
  // (admitted and confirmed there: the facts are learnt, with that namespace's verdict).
  h.images.delete(CONFIG);
  h.tags.set(`${NAME}:v1`, UNSIGNED);
  hold(h, OTHER_CONFIG, UNSIGNED);
  t.true((await pullAndConfirm(h, `${NAME}:v1`, OTHER_CONFIG, 'staging')).allowed);
  // Its image id is not admitted in an enforced namespace: the dry run's verdict is another rule's.
  t.false((await h.admitCreate(create(OTHER_CONFIG), signal())).allowed);
  t.is(h.records.at(-1)!.reason, 'ATTESTOR_MISSING');
  t.is(h.records.at(-1)!.outcome, 'deny');
  // And the create of the old id (content that was judged) is what containerd will refuse as absent;
  // criguard admits only the judged content, never the new one.
  t.true((await h.admitCreate(create(CONFIG), signal())).allowed);
  t.deepEqual(h.records.at(-1)!.digests, [SIGNED]);
});

test('fast_path_policy_reload_fail: a policy reloaded between pull and create is applied to the create', async (t) => {
  const h = harness();
  hold(h, CONFIG, SIGNED);
  t.true((await pullAndConfirm(h, `${NAME}@${SIGNED}`, CONFIG)).allowed);
  t.true((await h.admitCreate(create(CONFIG), signal())).allowed);
  h.setPolicy(policyWith(otherKey)); // key rotation: SIGNED no longer satisfies the attestor
  const out = await h.admitCreate(create(CONFIG), signal());
  t.false(out.allowed);
  const r = h.records.at(-1)!;
  t.is(r.reason, 'ATTESTOR_MISSING');
  t.not(r.policyRevision, h.records[0]!.policyRevision);
  t.deepEqual(h.fetches, [SIGNED, SIGNED], 'verified again under the new policy');
});

test('fast_path_namespace_fail: an allow cached for one namespace does not admit under another rule', async (t) => {
  const h = harness();
  hold(h, CONFIG, SIGNED);
  t.true((await pullAndConfirm(h, `${NAME}@${SIGNED}`, CONFIG)).allowed);
  t.false((await h.admitCreate(create(CONFIG, 'locked'), signal())).allowed);
  t.is(h.records.at(-1)!.reason, 'ALWAYS_DENY');
});

test('fast_path_breakglass_expiry_fail: an image admitted by a breakglass is refused once it expires', async (t) => {
  let open = true;
  const h = harness({
    breakglass: {
      grantFor: () =>
        open
          ? {
              reason: 'INC-1',
              ticket: 'T-1',
              createdBy: 'oncall',
              expiresAt: '2030-01-01T00:00:00Z',
              fileSha256: 'sha256:ab',
              matched: ['namespace:default'],
            }
          : undefined,
    },
  });
  hold(h, OTHER_CONFIG, UNSIGNED);
  t.true((await pullAndConfirm(h, `${NAME}@${UNSIGNED}`, OTHER_CONFIG)).allowed);
  t.true((await h.admitCreate(create(OTHER_CONFIG), signal())).allowed);
  t.is(h.records.at(-1)!.reason, 'BREAKGLASS');
  open = false;
  t.false((await h.admitCreate(create(OTHER_CONFIG), signal())).allowed);
  t.is(h.records.at(-1)!.reason, 'ATTESTOR_MISSING');
});

test('fast_path_platform: the judged platform manifest confirms without a look-up, and its image id creates fast', async (t) => {
  const INDEX = digestOf('index');
  const h = harness({
    platforms: {
      platformManifest: async (image) =>
        image.digest === INDEX ? { digest: SIGNED, configDigest: CONFIG } : undefined,
    },
  });
  t.true((await pullAndConfirm(h, `${NAME}@${INDEX}`, CONFIG)).allowed);
  t.true((await h.admitCreate(create(CONFIG), signal())).allowed);
  t.deepEqual(h.lookups, []);
  t.deepEqual(h.records.at(-1)!.digests, [INDEX, SIGNED]);
  // Another entry of the index is still looked up and refused.
  h.images.set(OTHER_CONFIG, { id: OTHER_CONFIG, repoDigests: [`${NAME}@${INDEX}`], repoTags: [] });
  t.false((await pullAndConfirm(h, `${NAME}@${INDEX}`, OTHER_CONFIG)).allowed);
  t.is(h.records.at(-1)!.reason, 'PULL_PLATFORM_MISMATCH');
});

test('fast_path_quiet_deny: a cached deny never short-cuts; the full path decides and records', async (t) => {
  const h = harness();
  hold(h, OTHER_CONFIG, UNSIGNED);
  t.false((await h.admitCreate(create(OTHER_CONFIG), signal())).allowed);
  t.false((await h.admitCreate(create(OTHER_CONFIG), signal())).allowed);
  t.deepEqual(h.lookups, [OTHER_CONFIG, OTHER_CONFIG]);
});

test('re-validation keeps asking containerd', async (t) => {
  const h = harness();
  hold(h, CONFIG, SIGNED);
  t.true((await pullAndConfirm(h, `${NAME}@${SIGNED}`, CONFIG)).allowed);
  t.true((await h.revalidate(create(CONFIG), signal())).allowed);
  h.images.delete(CONFIG);
  t.false((await h.revalidate(create(CONFIG), signal())).allowed);
  t.deepEqual(h.lookups, [CONFIG, CONFIG, CONFIG]);
});

const sha = (label: string) => `sha256:${createHash('sha256').update(label).digest('hex')}`;

test('JudgedImages is bounded: names per image id and image ids', (t) => {
  const judged = new JudgedImages();
  for (let i = 0; i < MAX_NAMES_PER_IMAGE + 5; i++) {
    judged.learn({
      identity: { name: `r.example/n${i}`, digest: SIGNED },
      imageId: CONFIG,
      reported: [SIGNED],
    });
  }
  const names = judged.manifestsOf(CONFIG);
  t.is(names.length, MAX_NAMES_PER_IMAGE);
  t.is(names[0]!.identity.name, `r.example/n${MAX_NAMES_PER_IMAGE + 4}`, 'the latest first');
  judged.learn({ identity: { name: 'r.example/n0', digest: SIGNED }, imageId: CONFIG, reported: [SIGNED] });
  t.is(judged.manifestsOf(CONFIG).length, MAX_NAMES_PER_IMAGE, 'learning a name again does not grow it');
  for (let i = 0; i < MAX_IMAGES_REMEMBERED + 10; i++) {
    judged.learn({
      identity: { name: NAME, digest: sha(`m${i}`) },
      imageId: sha(`c${i}`),
      reported: [],
    });
  }
  t.is(judged.size, MAX_IMAGES_REMEMBERED);
  t.deepEqual(judged.manifestsOf(CONFIG), [], 'the least recently used is forgotten');
  t.is(
    judged.imageIdOf({ name: NAME, digest: sha(`m${MAX_IMAGES_REMEMBERED + 9}`) }),
    sha(`c${MAX_IMAGES_REMEMBERED + 9}`),
  );
});

test('first pull: the image id named by the resolved manifest confirms without a look-up; another is looked up', async (t) => {
  const withImageId = harness({
    resolver: {
      resolve: async (ref) =>
        ref.canonical === `${NAME}:v1` ? { digest: SIGNED, imageId: CONFIG } : { digest: UNSIGNED },
    },
  });
  t.true((await pullAndConfirm(withImageId, `${NAME}:v1`, CONFIG)).allowed);
  t.deepEqual(withImageId.lookups, []);
  t.true((await withImageId.admitCreate(create(CONFIG), signal())).allowed);
  t.deepEqual(withImageId.lookups, [], 'the create needs no look-up either');
  // The tag moved between criguard's resolve and containerd's: containerd answers another image id.
  hold(withImageId, OTHER_CONFIG, UNSIGNED);
  const out = await pullAndConfirm(withImageId, `${NAME}:v1`, OTHER_CONFIG);
  t.false(out.allowed);
  t.deepEqual(withImageId.lookups, [OTHER_CONFIG]);
  t.is(withImageId.records.at(-1)!.reason, 'PULL_DIGEST_MISMATCH');
});

test('overlapping sources: fetched together, weighed in order; one not needed is cancelled, its failure ignored', async (t) => {
  const events: string[] = [];
  let release!: () => void;
  const firstDone = new Promise<void>((r) => (release = r));
  const h = harness({
    evidence: [
      {
        fetch: async (image) => {
          events.push('cosign start');
          await firstDone;
          return image.digest === SIGNED ? [attestation(SIGNED)] : [];
        },
      },
      {
        overlap: true,
        fetch: (image, _credentials, signal) => {
          events.push('bundles start');
          if (image.digest === UNSIGNED)
            return Promise.reject(Object.assign(new Error('503'), { code: 'CG_ERR_REGISTRY_UNAVAILABLE' }));
          return new Promise((_resolve, reject) =>
            signal.addEventListener('abort', () => {
              events.push('bundles cancelled');
              reject(Object.assign(new Error('aborted'), { code: 'CG_ERR_REGISTRY_UNAVAILABLE' }));
            }),
          );
        },
      },
    ],
  });
  const pending = h.admitPull(pull(`${NAME}@${SIGNED}`), signal());
  await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(events, ['cosign start', 'bundles start'], 'both started before the first answered');
  release();
  t.true((await pending).allowed);
  t.deepEqual(events, ['cosign start', 'bundles start', 'bundles cancelled']);
  // When the first does not admit, the second's failure is the decision's (fail closed).
  const out = await h.admitPull(pull(`${NAME}@${UNSIGNED}`), signal());
  t.false(out.allowed);
  t.is(out.allowed ? undefined : out.kind, 'registry-unavailable');
  t.is(h.records.at(-1)!.errorCode, 'CG_ERR_REGISTRY_UNAVAILABLE');
});
