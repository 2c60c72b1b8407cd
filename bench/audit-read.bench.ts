/**
 * What `criguard policy simulate` pays to read an audit log: 200,000 decision records (about 120 MiB, near
 * the default 128 MiB bound) read with readAuditLog (bounded lines, schema checked) and folded into
 * replay subjects, against a baseline measured in the same run: readFile + split + JSON.parse.
 * Run: npx tsx bench/audit-read.bench.ts
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readAuditLog } from '../src/audit/audit-reader.js';
import { createAuditSubjects } from '../src/simulate/audit-subjects.js';

const N = 200_000;
const dir = mkdtempSync(join(tmpdir(), 'criguard-bench-audit-'));
const file = join(dir, 'audit.log');
try {
  const lines: string[] = [];
  for (let i = 0; i < N; i++) {
    const app = i % 500;
    lines.push(
      JSON.stringify({
        schema: 1,
        time: new Date(1_767_225_600_000 + i * 1000).toISOString(),
        node: 'node-1',
        method: i % 2 ? 'PullImage' : 'CreateContainer',
        image: `registry.example/app${app}:1`,
        imageName: `registry.example/app${app}`,
        digests: [`sha256:${app.toString(16).padStart(64, '0')}`],
        pod: { namespace: `ns${i % 20}`, name: 'pod', uid: 'uid' },
        container: 'app',
        outcome: 'allow',
        reason: 'ATTESTATIONS_SATISFIED',
        verdict: {
          decision: 'allow',
          wouldBe: 'allow',
          reason: 'ATTESTATIONS_SATISFIED',
          dryRun: false,
          rule: { kind: 'default' },
          satisfied: [{ attestor: 'ci', keyIds: ['k1'] }],
          missing: [],
          policyRevision: 'sha256:x',
        },
        dryRun: false,
        cacheHit: true,
        latencyMs: 1,
        policyRevision: 'sha256:x',
      }),
    );
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
  const mib = readFileSync(file).length / 1048576;

  let started = performance.now();
  let parsed = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    JSON.parse(line);
    parsed += 1;
  }
  const baseline = performance.now() - started;

  started = performance.now();
  const subjects = createAuditSubjects();
  const stats = readAuditLog({ path: file, sinceMs: undefined, onRecord: (r) => subjects.add(r) });
  const ours = performance.now() - started;

  console.log(`audit log: ${mib.toFixed(1)} MiB, ${parsed} records`);
  console.log(`  baseline (readFile + JSON.parse):          ${baseline.toFixed(0)} ms`);
  console.log(
    `  readAuditLog + schema + fold into subjects: ${ours.toFixed(0)} ms (${(ours / baseline).toFixed(2)}× baseline; ${stats.decisions} decisions, ${subjects.subjects.length} subjects)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
