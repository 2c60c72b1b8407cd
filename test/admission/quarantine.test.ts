import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { CreateFacts, PodFacts, PullFacts } from '../../src/admission/admission.js';
import { createAdmission, type AdmissionDependencies } from '../../src/admission/controller.js';
import type { DecisionRecord } from '../../src/admission/decision-record.js';
import type { ImageFacts } from '../../src/admission/ports.js';
import { createBreakglassMonitor } from '../../src/breakglass/monitor.js';
import { writeBreakglassFileAtomically } from '../../src/breakglass/write-file.js';
import { VerdictCache } from '../../src/cache/verdict-cache.js';
import { createQuarantineMonitor, type QuarantineMonitor } from '../../src/quarantine/monitor.js';
import type { CompiledPolicy } from '../../src/policy/types.js';
import type { AttestationRecord } from '../../src/verify/attestation.js';
import { policyFrom } from '../policy/policy-fixtures.js';
import { attestorDoc, digestOf, makeKey, payloadFor, rule, signWith } from '../verify/fixtures.js';
import { atomicWrite, entry, iso, quarantineDir, quarantineYaml } from '../quarantine/helpers.js';
import { join } from 'node:path';

const key = makeKey('ECDSA_P256_SHA256');
const NAME = 'registry.example/team/app';
const MIRROR = 'mirror.example/copies/app';
const SIGNED = digestOf('signed');
const OTHER = digestOf('other-signed');
const CONFIG = digestOf('config');

function policyWith(extra: object = {}): CompiledPolicy {
  return policyFrom({
    defaultAdmissionRule: rule('REQUIRE_ATTESTATION', ['builder']),
    kubernetesNamespaceAdmissionRules: {
      'kube-system': rule('ALWAYS_ALLOW'),
      staging: rule('REQUIRE_ATTESTATION', ['builder'], 'DRYRUN_AUDIT_LOG_ONLY'),
    },
    attestors: [attestorDoc('builder', [{ id: 'k1', key }])],
    ...extra,
  });
}

function attestation(name: string, digest: string): AttestationRecord {
  const payload = payloadFor(name, digest);
  return { payload, signatures: [{ publicKeyId: 'k1', signature: signWith(key, payload) }] };
}

/**
 * The decision point with a real quarantine file (and optionally a real breakglass file) in a temp dir;
 * the registry and containerd are in-memory ports. `now` is the clock every decision uses.
 */
async function harness(
  t: ExecutionContext,
  quarantineText?: string,
  extra: Partial<AdmissionDependencies> = {},
) {
  const { dir, path } = await quarantineDir(t);
  if (quarantineText !== undefined) await atomicWrite(path, quarantineText);
  const quarantine: QuarantineMonitor = createQuarantineMonitor({ path });
  t.teardown(() => quarantine.close());
  const h = {
    dir,
    path,
    now: Date.now(),
    policy: policyWith(),
    records: [] as DecisionRecord[],
    fetches: [] as string[],
    resolves: [] as string[],
    images: new Map<string, ImageFacts>(),
    cache: new VerdictCache({ maxEntries: 100, allowTtlMs: 3_600_000, denyTtlMs: 60_000, now: Date.now }),
    quarantine,
    async setQuarantine(text: string) {
      await atomicWrite(path, text);
      quarantine.refresh();
    },
  };
  const evidence = new Map([
    [SIGNED, [attestation(NAME, SIGNED), attestation(MIRROR, SIGNED)]],
    [OTHER, [attestation(NAME, OTHER)]],
  ]);
  const deps: AdmissionDependencies = {
    policy: () => h.policy,
    resolver: {
      resolve: async (ref) => {
        h.resolves.push(ref.canonical);
        if (ref.canonical === `${NAME}:v1`) return SIGNED;
        throw Object.assign(new Error('manifest unknown'), { code: 'CG_ERR_REGISTRY_NOT_FOUND' });
      },
    },
    evidence: [
      {
        fetch: async (image) => {
          h.fetches.push(image.digest);
          return (evidence.get(image.digest) ?? []).filter((r) =>
            Buffer.from(r.payload).toString().includes(image.name),
          );
        },
      },
    ],
    images: { lookup: async (image) => h.images.get(image) },
    cache: h.cache,
    sink: { record: (r) => h.records.push(r) },
    clock: () => h.now,
    budgetMs: 10_000,
    quarantine,
    ...extra,
  };
  return Object.assign(h, createAdmission(deps));
}

const pod = (namespace = 'default', labels: Record<string, string> = {}): PodFacts => ({
  namespace,
  name: 'web-1',
  uid: 'uid-1',
  labels,
  annotations: {},
});
const pull = (image: string, namespace?: string): PullFacts => ({
  image,
  pod: pod(namespace),
  credentials: undefined,
});
const create = (image: string, namespace?: string, userSpecifiedImage = ''): CreateFacts => ({
  image,
  userSpecifiedImage,
  volumeImages: [],
  containerName: 'app',
  podSandboxId: 'sb',
  pod: pod(namespace),
});
const signal = () => new AbortController().signal;
const badDigest = quarantineYaml(entry(SIGNED));

test('a signed image quarantined by digest is refused at pull with QUARANTINED, the reason and the ticket', async (t) => {
  const a = await harness(t, badDigest);
  const outcome = await a.admitPull(pull(`${NAME}@${SIGNED}`), signal());
  t.false(outcome.allowed);
  if (outcome.allowed) return;
  t.is(outcome.kind, 'denied');
  t.regex(
    outcome.reason,
    /^QUARANTINED: registry\.example\/team\/app@sha256:[0-9a-f]{64} is quarantined on this node: CVE-2026-0001 compromised release \(ticket INC-42, entry sha256:/,
  );
  t.deepEqual(a.fetches, [], 'no evidence fetched for a quarantined digest');
  const r = a.records[0]!;
  t.is(r.reason, 'QUARANTINED');
  t.is(r.outcome, 'deny');
  t.is(r.quarantine?.kind, 'entry');
  t.is(r.quarantine?.kind === 'entry' ? r.quarantine.ticket : '', 'INC-42');
  t.false(r.dryRun);
});

test('pull_by_tag_quarantined_fail: a tag resolving to a quarantined digest is refused, without verifying it', async (t) => {
  const a = await harness(t, badDigest);
  const outcome = await a.admitPull(pull(`${NAME}:v1`), signal());
  t.false(outcome.allowed);
  t.deepEqual(a.resolves, [`${NAME}:v1`]);
  t.deepEqual(a.fetches, []);
  t.is(a.records[0]!.reason, 'QUARANTINED');
  t.deepEqual(a.records[0]!.digests, [SIGNED]);
  t.is(a.cache.size, 0, 'nothing cached for the quarantined digest');
});

test('a name pattern refuses by name, before the registry is asked', async (t) => {
  const a = await harness(t, quarantineYaml(entry('registry.example/team/*')));
  t.false((await a.admitPull(pull(`${NAME}:v1`), signal())).allowed);
  t.deepEqual(a.resolves, []);
  t.is(a.records[0]!.quarantine?.kind === 'entry' ? a.records[0]!.quarantine.matched : '', `image:${NAME}`);
});

test('other_registry_name_same_digest_fail: CreateContainer refuses the image under whatever name it was pulled', async (t) => {
  const a = await harness(t, quarantineYaml(entry(`${NAME}@${SIGNED}`)));
  // The image was pulled through a mirror name only; the quarantine names the original repository and
  // digest, so the mirror name does not match the pin... but a digest entry does:
  a.images.set(CONFIG, { id: CONFIG, repoDigests: [`${MIRROR}@${SIGNED}`], repoTags: [] });
  t.true((await a.admitCreate(create(CONFIG), signal())).allowed, 'a name@digest pin matches that name only');
  await a.setQuarantine(badDigest);
  t.false((await a.admitCreate(create(CONFIG), signal())).allowed);
  t.is(a.records.at(-1)!.reason, 'QUARANTINED');
  t.is(a.records.at(-1)!.images?.[0]?.reason, 'QUARANTINED');
  // And at pull: the same digest under the mirror's name.
  t.false((await a.admitPull(pull(`${MIRROR}@${SIGNED}`), signal())).allowed);
});

test('an image id (what crictl shows) can be quarantined too', async (t) => {
  const a = await harness(t, quarantineYaml(entry(CONFIG)));
  a.images.set(CONFIG, { id: CONFIG, repoDigests: [`${NAME}@${SIGNED}`], repoTags: [] });
  t.false((await a.admitCreate(create(CONFIG), signal())).allowed);
  t.is(a.records[0]!.reason, 'QUARANTINED');
});

test('breakglass_while_quarantined_fail: an open breakglass (file and pod label) cannot reopen a quarantined image', async (t) => {
  const { dir } = await quarantineDir(t);
  const breakglassPath = join(dir, 'breakglass.yaml');
  writeBreakglassFileAtomically(
    breakglassPath,
    `reason: INC-1 open everything\nexpiresAt: ${iso(Date.now() + 3_600_000)}\nscope:\n  all: true\nend: true\n`,
  );
  const breakglass = createBreakglassMonitor({ path: breakglassPath });
  t.teardown(() => breakglass.close());
  t.is(breakglass.status(Date.now()).state, 'active');
  const a = await harness(t, badDigest, { breakglass, podBreakglassLabel: true });
  t.false((await a.admitPull(pull(`${NAME}@${SIGNED}`), signal())).allowed);
  t.is(a.records[0]!.breakglass, undefined);
  t.false((await a.admitPull(pull(`${NAME}:v1`), signal())).allowed, 'by tag too');
  t.is(a.records[1]!.breakglass, undefined);
  a.images.set(CONFIG, { id: CONFIG, repoDigests: [`${NAME}@${SIGNED}`], repoTags: [] });
  const labelled = { ...create(CONFIG), pod: pod('default', { 'image-policy.k8s.io/break-glass': 'true' }) };
  t.false((await a.admitCreate(labelled, signal())).allowed);
  t.is(a.records[2]!.reason, 'QUARANTINED');
  t.is(a.records[2]!.breakglass, undefined);
  // The breakglass still works for images that are not quarantined.
  t.true((await a.admitPull(pull(`${NAME}@${digestOf('unsigned')}`), signal())).allowed);
  t.is(a.records[3]!.reason, 'BREAKGLASS');
});

test('cached_allow_quarantined_fail: a cached allow does not bypass a quarantine, and a lifted one leaves no cached deny', async (t) => {
  const a = await harness(t, quarantineYaml([]));
  a.images.set(CONFIG, { id: CONFIG, repoDigests: [`${NAME}@${SIGNED}`], repoTags: [] });
  t.true((await a.admitPull(pull(`${NAME}@${SIGNED}`), signal())).allowed);
  t.true((await a.admitCreate(create(CONFIG), signal())).allowed);
  t.true(a.records[1]!.cacheHit, 'the allow is cached');
  await a.setQuarantine(badDigest);
  t.false((await a.admitPull(pull(`${NAME}@${SIGNED}`), signal())).allowed);
  t.false((await a.admitCreate(create(CONFIG), signal())).allowed);
  t.is(a.records[3]!.reason, 'QUARANTINED');
  await a.setQuarantine(quarantineYaml([]));
  t.true((await a.admitCreate(create(CONFIG), signal())).allowed);
  t.true(a.records[4]!.cacheHit, 'the policy verdict cached before the quarantine is used again');
  t.is(a.records[4]!.reason, 'ATTESTATIONS_SATISFIED');
});

test('allowlist, ALWAYS_ALLOW, node-critical pins and dry run do not admit a quarantined image', async (t) => {
  const a = await harness(t, badDigest);
  a.policy = policyWith({
    admissionWhitelistPatterns: [{ namePattern: NAME }],
    criguard: { nodeCriticalImages: [`${MIRROR}@${SIGNED}`] },
  });
  t.false((await a.admitPull(pull(`${MIRROR}@${SIGNED}`), signal())).allowed, 'node-critical pin');
  t.false((await a.admitPull(pull(`${NAME}@${SIGNED}`, 'staging'), signal())).allowed, 'dry run');
  t.false((await a.admitPull(pull(`${NAME}@${SIGNED}`, 'kube-system'), signal())).allowed, 'ALWAYS_ALLOW');
  t.true(a.records.every((r) => r.reason === 'QUARANTINED' && !r.dryRun));
});

test('allowlisted_by_name_quarantined_fail: a pull admitted by name alone is refused once containerd shows its digest', async (t) => {
  const a = await harness(t, badDigest);
  a.policy = policyWith({ admissionWhitelistPatterns: [{ namePattern: NAME }] });
  const admitted = await a.admitPull(pull(`${NAME}:latest`), signal());
  t.true(admitted.allowed, 'decided by name, without a digest');
  if (!admitted.allowed) return;
  a.images.set(CONFIG, { id: CONFIG, repoDigests: [`${NAME}@${SIGNED}`], repoTags: [`${NAME}:latest`] });
  const confirmed = await admitted.confirm(CONFIG, signal());
  t.false(confirmed.allowed);
  t.is(a.records.at(-1)!.reason, 'QUARANTINED');
  t.is(a.records.at(-1)!.method, 'PullImage');
  // With no quarantine in force the confirm step stays as it was.
  await a.setQuarantine(quarantineYaml([]));
  const again = await a.admitPull(pull(`${NAME}:latest`), signal());
  t.true(again.allowed && (await again.confirm(CONFIG, signal())).allowed);
});

test('create_by_tag_quarantine_fail: while a quarantine is in force, even ALWAYS_ALLOW takes image ids only', async (t) => {
  const a = await harness(t, quarantineYaml([]));
  a.images.set(`${NAME}:v1`, { id: CONFIG, repoDigests: [`${NAME}@${OTHER}`], repoTags: [`${NAME}:v1`] });
  t.true((await a.admitCreate(create(`${NAME}:v1`, 'kube-system'), signal())).allowed);
  await a.setQuarantine(badDigest);
  t.false((await a.admitCreate(create(`${NAME}:v1`, 'kube-system'), signal())).allowed);
  t.is(a.records.at(-1)!.reason, 'IMAGE_NOT_CONTENT_ADDRESSED');
});

test('expiry_quarantine: an entry refuses until its expiresAt, checked at every decision', async (t) => {
  const expires = Date.now() + 60_000;
  const a = await harness(t, quarantineYaml(entry(SIGNED, [`    expiresAt: ${iso(expires)}`])));
  a.now = expires - 1;
  t.false((await a.admitPull(pull(`${NAME}@${SIGNED}`), signal())).allowed);
  a.now = expires;
  t.true((await a.admitPull(pull(`${NAME}@${SIGNED}`), signal())).allowed);
});

test('re-validation reports a running container whose image is quarantined', async (t) => {
  const a = await harness(t, badDigest);
  a.images.set(CONFIG, { id: CONFIG, repoDigests: [`${NAME}@${SIGNED}`], repoTags: [] });
  const outcome = await a.revalidate(create(CONFIG), signal());
  t.false(outcome.allowed);
  t.is(outcome.quarantine?.kind, 'entry');
  t.is(a.records[0]!.method, 'Revalidation');
  t.is(a.records[0]!.reason, 'QUARANTINED');
});

test('invalid_quarantine_at_start_fail: while the file cannot be trusted and no good list was read, every image is refused', async (t) => {
  const a = await harness(t, 'entries: []\n');
  a.images.set(CONFIG, { id: CONFIG, repoDigests: [`${NAME}@${OTHER}`], repoTags: [] });
  const pulled = await a.admitPull(pull(`${NAME}@${OTHER}`), signal());
  t.false(pulled.allowed);
  if (!pulled.allowed)
    t.regex(pulled.reason, /^QUARANTINE_INVALID: .* cannot be trusted \(CG_ERR_QUARANTINE_INCOMPLETE\)/);
  t.false((await a.admitCreate(create(CONFIG), signal())).allowed);
  t.true(a.records.every((r) => r.reason === 'QUARANTINE_INVALID'));
  await a.setQuarantine(quarantineYaml([]));
  t.true((await a.admitPull(pull(`${NAME}@${OTHER}`), signal())).allowed);
});
