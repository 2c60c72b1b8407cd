/**
 * Cost of the quarantine check on the decision path: CreateContainer decisions (in-memory containerd and
 * sinks, an allowlisted digest so no signature is checked) without a quarantine (the baseline, measured in
 * the same run), with an empty quarantine file, and with 1,024 entries (digests and name patterns) none of
 * which matches. Run: npx tsx bench/quarantine.bench.ts. Prints µs per decision and the overhead.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAdmission, type AdmissionDependencies } from '../src/admission/controller.js';
import { VerdictCache } from '../src/cache/verdict-cache.js';
import { loadPolicy } from '../src/policy/load-policy.js';
import { createQuarantineMonitor } from '../src/quarantine/monitor.js';
import { quarantineFileText, writeQuarantineFileAtomically } from '../src/quarantine/write-file.js';

const NAME = 'registry.example/team/app';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const IMAGE_ID = `sha256:${'cd'.repeat(32)}`;
const policy = loadPolicy({
  policy: {
    source: 'bench',
    text: JSON.stringify({
      defaultAdmissionRule: {
        evaluationMode: 'ALWAYS_DENY',
        enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      },
      admissionWhitelistPatterns: [{ namePattern: `${NAME}@${DIGEST}` }],
    }),
  },
});

function admission(quarantine: AdmissionDependencies['quarantine']) {
  return createAdmission({
    policy: () => policy,
    resolver: { resolve: () => Promise.reject(new Error('not used')) },
    evidence: [],
    images: {
      lookup: async () => ({ id: IMAGE_ID, repoDigests: [`${NAME}@${DIGEST}`], repoTags: [`${NAME}:v1`] }),
    },
    cache: new VerdictCache({ maxEntries: 100, allowTtlMs: 60_000, denyTtlMs: 1000, now: Date.now }),
    sink: { record: () => {} },
    clock: Date.now,
    budgetMs: 10_000,
    quarantine,
  });
}

const facts = {
  image: IMAGE_ID,
  userSpecifiedImage: `${NAME}:v1`,
  volumeImages: [],
  containerName: 'app',
  podSandboxId: 'sb',
  pod: { namespace: 'default', name: 'p', uid: 'u', labels: {}, annotations: {} },
};

async function measure(label: string, quarantine: AdmissionDependencies['quarantine'], n = 20_000) {
  const a = admission(quarantine);
  const signal = new AbortController().signal;
  for (let i = 0; i < 2000; i++) await a.admitCreate(facts, signal); // warm up
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const outcome = await a.admitCreate(facts, signal);
    if (!outcome.allowed) throw new Error(`${label}: refused`);
  }
  return Number(process.hrtime.bigint() - start) / 1000 / n;
}

const dir = mkdtempSync(join(tmpdir(), 'criguard-qbench-'));
try {
  const emptyPath = join(dir, 'empty.yaml');
  writeQuarantineFileAtomically(emptyPath, quarantineFileText({ entries: [] }));
  const fullPath = join(dir, 'full.yaml');
  const entries = Array.from({ length: 1024 }, (_, i) => ({
    image:
      i % 2 === 0
        ? `sha256:${i.toString(16).padStart(64, '0')}`
        : i % 4 === 1
          ? `registry-${i}.example/team/**`
          : `registry.example/team-${i}/*`,
    reason: `bench entry ${i}`,
  }));
  writeQuarantineFileAtomically(fullPath, quarantineFileText({ entries }));
  const empty = createQuarantineMonitor({ path: emptyPath });
  const full = createQuarantineMonitor({ path: fullPath });
  if (full.status(Date.now()).inForce !== 1024) throw new Error('the 1,024-entry file did not load');
  // Three interleaved rounds; the best of each is printed (the machine may be shared).
  let [baseline, none, many] = [Infinity, Infinity, Infinity];
  for (let round = 0; round < 3; round++) {
    baseline = Math.min(baseline, await measure('no quarantine', undefined));
    none = Math.min(none, await measure('empty quarantine', empty));
    many = Math.min(many, await measure('1,024 entries', full));
  }
  const row = (label: string, us: number) =>
    console.log(
      `${label.padEnd(34)} ${us.toFixed(2).padStart(7)} µs/decision  (+${(us - baseline).toFixed(2)} µs)`,
    );
  console.log('CreateContainer decision, allowlisted digest, in-memory ports:');
  row('baseline: no quarantine configured', baseline);
  row('empty quarantine file', none);
  row('1,024 entries, none matching', many);
  empty.close();
  full.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
