/**
 * `criguard policy simulate` against a real node: containerd running a signed container and an
 * unsigned-but-allowlisted one (both started through criguard), the audit log those starts wrote, and
 * signatures in a real registry. A candidate that drops the allowlist entry must be reported as breaking
 * the allowlisted container (exit 3), entry by entry; simulate must not write the daemon's state.
 */
import test from 'ava';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCriClient, type CriClient } from '../helpers/cri-client.js';
import type { SimulationReport } from '../../src/simulate/report.js';
import { startCriguard, type Criguard } from '../helpers/criguard.js';
import { pushImage, type PushedImage } from '../helpers/images.js';
import { labReady, podSandboxConfig, useLab } from '../helpers/lab.js';
import { runContainer } from '../helpers/run-container.js';
import { attestor, criguardCli, keygen, writePolicy, type SigningKey } from '../helpers/signing.js';

const lab = useLab(test);
const work = mkdtempSync(join(tmpdir(), 'cgsim-'));
const currentFile = join(work, 'policy.json');
const candidateFile = join(work, 'candidate.json');
const configFile = join(work, 'config.yaml');
const stateDir = join(work, 'state');
const auditLog = join(work, 'audit.jsonl');
let key: SigningKey;
let criguard: Criguard;
let cri: CriClient;
let signed: PushedImage;
let legacy: PushedImage;
let rogue: PushedImage;

function policy(allowlist: readonly string[]): object {
  return {
    defaultAdmissionRule: {
      evaluationMode: 'REQUIRE_ATTESTATION',
      enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      requireAttestationsBy: ['ci'],
    },
    admissionWhitelistPatterns: allowlist.map((namePattern) => ({ namePattern })),
    attestors: [attestor('ci', [key])],
  };
}

test.before(async () => {
  key = await keygen(work, 'ci');
  await labReady(lab);
  const registry = lab().registry;
  const run = randomUUID().slice(0, 8);
  signed = await pushImage(registry, { name: 'criguard-test/signed', variant: `s-${run}` });
  legacy = await pushImage(registry, { name: 'criguard-test/legacy', variant: `l-${run}` });
  rogue = await pushImage(registry, { name: 'criguard-test/rogue', variant: `r-${run}` });
  const pushed = await criguardCli(['sign', '--key', key.keyFile, '--push', signed.digestRef]);
  if (pushed.code !== 0) throw new Error(pushed.stderr);
  const legacyName = `${legacy.host}/${legacy.name}`;
  const rogueName = `${rogue.host}/${rogue.name}`;
  // Current: the legacy image is allowlisted. Candidate: that entry dropped, the rogue image allowlisted.
  writePolicy(currentFile, policy([legacyName]));
  writePolicy(candidateFile, policy([rogueName]));
  writeFileSync(
    configFile,
    [
      `upstream: ${lab().containerd.socket}`,
      `policy: ${currentFile}`,
      `stateDir: ${stateDir}`,
      `auditLog: ${auditLog}`,
      'verifyTimeoutSeconds: 10',
      '',
    ].join('\n'),
  );
  criguard = await startCriguard({ upstream: lab().containerd.socket, extraArgs: ['--config', configFile] });
  cri = createCriClient(criguard.socket, { deadlineMs: 60_000 });
  const a = await runContainer(cri, podSandboxConfig(lab(), 'team-a', 'web'), signed.ref, { start: true });
  const b = await runContainer(cri, podSandboxConfig(lab(), 'team-b', 'old'), legacy.ref, { start: true });
  const c = await runContainer(cri, podSandboxConfig(lab(), 'team-a', 'bad'), rogue.ref);
  if (a.id === undefined || b.id === undefined)
    throw new Error(`not started: ${a.error?.message ?? b.error?.message}`);
  if (c.stage !== 'pull') throw new Error('the rogue image was not refused at pull');
  cri.close();
  // The daemon is not needed by simulate; stopped so that the state it leaves can be compared byte for byte.
  await criguard.stop();
});

test.after.always(async () => {
  await criguard?.dispose();
  rmSync(work, { recursive: true, force: true });
});

/** Every file under `dir` with its size, mode, mtime and content hash. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      const st = statSync(path);
      if (st.isDirectory()) {
        out[`${path}/`] = `${st.mode} ${st.mtimeMs}`;
        walk(path);
      } else {
        const hash = createHash('sha256').update(readFileSync(path)).digest('hex');
        out[path] = `${st.size} ${st.mode} ${st.mtimeMs} ${hash}`;
      }
    }
  };
  walk(dir);
  return out;
}

async function simulate(extra: string[]) {
  return criguardCli(['policy', 'simulate', '--config', configFile, '--since', '1h', ...extra]);
}

test.serial(
  'a candidate dropping the allowlist entry breaks the allowlisted container: exit 3, entry by entry',
  async (t) => {
    const stateBefore = snapshot(stateDir);
    const auditBefore = snapshot(work);
    t.true(
      Object.keys(stateBefore).some((p) => p.includes('attestations') && p.endsWith('.json')),
      'the daemon left an attestation cache for simulate to read',
    );
    const result = await simulate(['--policy', candidateFile, '--output', 'json']);
    t.is(result.code, 3, result.stderr);
    const report = JSON.parse(result.stdout) as SimulationReport;
    t.is(report.schema, 1);
    t.deepEqual(report.running, { listed: 2 });

    const signedName = `${signed.host}/${signed.name}@${signed.digest}`;
    const legacyName = `${legacy.host}/${legacy.name}@${legacy.digest}`;
    const rogueName = `${rogue.host}/${rogue.name}@${rogue.digest}`;
    const pick = (source: string, image: string, method?: string) =>
      report.entries.filter(
        (e) =>
          e.source === source && e.image === image && (method === undefined || e.audit?.method === method),
      );

    const running = report.entries.filter((e) => e.source === 'running');
    t.is(running.length, 2);
    const [web] = pick('running', signedName);
    t.like(web, {
      namespace: 'team-a',
      container: { name: 'app', pod: 'web', imageId: signed.configDigest },
      current: { outcome: 'allow', reason: 'ATTESTATIONS_SATISFIED', rule: 'default' },
      candidate: { outcome: 'allow', reason: 'ATTESTATIONS_SATISFIED', rule: 'default' },
      change: 'none',
    });
    const [old] = pick('running', legacyName);
    t.like(old, {
      namespace: 'team-b',
      container: { name: 'app', pod: 'old', imageId: legacy.configDigest },
      current: { outcome: 'allow', reason: 'ALLOWLISTED', rule: `allowlist ${legacy.host}/${legacy.name}` },
      candidate: { outcome: 'deny', reason: 'ATTESTOR_MISSING', rule: 'default' },
      change: 'allow-to-deny',
    });
    t.regex(old?.candidate.message ?? '', /lacks a valid attestation by ci/);
    t.deepEqual(old?.candidate.missing, ['ci (NO_ATTESTATION)']);

    // The audit log: the two pulls and creates that ran, and the refused pull.
    t.like(pick('audit', signedName, 'PullImage')[0], {
      namespace: 'team-a',
      audit: {
        replayedAs: 'PullImage',
        count: 1,
        recordedOutcome: 'allow',
        recordedReason: 'ATTESTATIONS_SATISFIED',
      },
      change: 'none',
    });
    t.like(pick('audit', signedName, 'CreateContainer')[0], {
      audit: { replayedAs: 'Revalidation', recordedOutcome: 'allow' },
      change: 'none',
    });
    // Allowlisted by name, that pull was decided without a digest: it is replayed by its tag (resolved now).
    t.like(pick('audit', legacy.ref, 'PullImage')[0], {
      namespace: 'team-b',
      audit: { recordedOutcome: 'allow', recordedReason: 'ALLOWLISTED' },
      current: { outcome: 'allow', reason: 'ALLOWLISTED' },
      candidate: { outcome: 'deny', reason: 'ATTESTOR_MISSING' },
      change: 'allow-to-deny',
    });
    t.like(pick('audit', legacyName, 'CreateContainer')[0], { change: 'allow-to-deny' });
    t.like(pick('audit', rogueName, 'PullImage')[0], {
      namespace: 'team-a',
      audit: { recordedOutcome: 'deny', recordedReason: 'ATTESTOR_MISSING' },
      current: { outcome: 'deny', reason: 'ATTESTOR_MISSING', rule: 'default' },
      candidate: { outcome: 'allow', reason: 'ALLOWLISTED', rule: `allowlist ${rogue.host}/${rogue.name}` },
      change: 'deny-to-allow',
    });
    t.is(
      report.entries.filter((e) => e.source === 'audit').length,
      5,
      JSON.stringify(report.entries, null, 1),
    );
    t.like(report.auditLog, { file: auditLog, malformed: 0, oversized: 0, subjects: 5, droppedSubjects: 0 });

    t.like(report.summary, {
      running: {
        total: 2,
        allowToDeny: 1,
        denyToAllow: 0,
        reasonChanged: 0,
        unchanged: 1,
        deniedByCandidate: 1,
      },
      audit: { total: 5, allowToDeny: 2, denyToAllow: 1, reasonChanged: 0, unchanged: 2 },
      runningDenied: 1,
    });
    t.like(
      report.summary.byNamespace.find((g) => g.key === 'team-b'),
      { total: 3, allowToDeny: 3 },
    );
    t.like(
      report.summary.byRule.find((g) => g.key === 'default'),
      { allowToDeny: 3, denyToAllow: 0 },
    );

    // Nothing of the daemon's was written: state directory and audit log byte for byte, mtimes included.
    t.deepEqual(snapshot(stateDir), stateBefore);
    t.deepEqual(snapshot(work), auditBefore);
  },
);

test.serial('text output names the broken container and the rule, then the summary', async (t) => {
  const result = await simulate(['--policy', candidateFile]);
  t.is(result.code, 3, result.stderr);
  t.regex(
    result.stdout,
    new RegExp(`allow → deny +team-b/old container app ${legacy.host}/${legacy.name}@${legacy.digest}`),
  );
  t.regex(result.stdout, /candidate: deny ATTESTOR_MISSING by default; missing ci \(NO_ATTESTATION\)/);
  t.regex(result.stdout, /deny → allow +team-a PullImage .*criguard-test\/rogue@/);
  t.regex(result.stdout, /The candidate would DENY 1 running container/);
  t.notRegex(result.stdout, /criguard-test\/signed@/, 'unchanged entries are not listed without --all');
  const all = await simulate(['--policy', candidateFile, '--all', '--skip-audit']);
  t.regex(all.stdout, /unchanged +team-a\/web container app .*criguard-test\/signed@/);
});

test.serial('the current policy as candidate changes nothing: exit 0', async (t) => {
  const result = await simulate(['--policy', currentFile, '--output', 'json']);
  t.is(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as SimulationReport;
  t.is(report.entries.length, 7);
  t.true(report.entries.every((e) => e.change === 'none'));
  t.is(report.summary.runningDenied, 0);
});

test.serial(
  'an invalid candidate is refused with its problems (exit 2); containerd missing is exit 1',
  async (t) => {
    const bad = join(work, 'bad.json');
    writeFileSync(bad, JSON.stringify({ defaultAdmissionRule: { evaluationMode: 'NOPE' } }));
    const invalid = await simulate(['--policy', bad]);
    t.is(invalid.code, 2);
    t.regex(invalid.stderr, /CG_ERR_/);
    const down = await simulate([
      '--policy',
      currentFile,
      '--upstream',
      join(work, 'nothing.sock'),
      '--skip-audit',
    ]);
    t.is(down.code, 1);
    t.regex(down.stdout, /Running containers: not listed/);
  },
);
