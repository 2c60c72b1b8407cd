/**
 * The real daemon writing its audit log on a real full disk (a 32 KiB tmpfs mounted for the test, as root):
 * every line in the log is a whole record, and the metric counts exactly the decisions that have none.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import { createCriClient } from '../helpers/cri-client.js';
import { startCriguard } from '../helpers/criguard.js';
import { startFakeUpstream } from '../helpers/fake-cri-upstream.js';

test('audit log on a full disk: whole records only, losses counted, writing resumes when space returns', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'cg-audit-e2e-'));
  const disk = join(work, 'disk');
  mkdirSync(disk);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32k,mode=0700', 'tmpfs', disk]);
  t.teardown(() => {
    execFileSync('umount', [disk]);
    rmSync(work, { recursive: true, force: true });
  });
  const filler = join(disk, 'filler');
  writeFileSync(filler, Buffer.alloc(16 * 1024));
  const auditLog = join(disk, 'audit.log');
  const policy = join(work, 'policy.json');
  writeFileSync(
    policy,
    JSON.stringify({
      defaultAdmissionRule: {
        evaluationMode: 'ALWAYS_DENY',
        enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      },
    }),
  );
  const upstream = await startFakeUpstream();
  t.teardown(() => upstream.stop());
  upstream.unary.set('/runtime.v1.RuntimeService/Version', () => ({
    runtime_name: 'fake',
    version: '0.1.0',
  }));
  const criguard = await startCriguard({
    upstream: upstream.socket,
    extraArgs: ['--policy', policy, '--state-dir', join(work, 'state'), '--audit-log', auditLog],
  });
  t.teardown(() => criguard.dispose());
  const cri = createCriClient(criguard.socket, { deadlineMs: 30_000 });
  t.teardown(() => cri.close());
  const failures = async () => {
    const text = await (await fetch(`${criguard.metricsUrl}/metrics`)).text();
    return Number(/^criguard_audit_write_failures_total (\d+)/m.exec(text)?.[1] ?? 'NaN');
  };
  let decisions = 0;
  const deny = async (i: number) => {
    // A long name (~1 KiB records: the disk fills within a few dozen decisions) on a closed port: denied at once.
    const image = `127.0.0.1:1/${'team/'.repeat(40)}app@sha256:${i.toString(16).padStart(64, '0')}`;
    const denied = await cri.pullImage({ image: { image } }).then(
      () => false,
      (err: ServiceError) => /^(SignatureValidationFailed|RegistryUnavailable): /.test(err.details),
    );
    t.true(denied, 'every pull is still denied, whatever the audit log does');
    decisions += 1;
  };
  while ((await failures()) === 0 && decisions < 200) await deny(decisions);
  t.true((await failures()) > 0, 'the disk filled up');
  for (let i = 0; i < 5; i++) await deny(decisions);
  unlinkSync(filler);
  for (let i = 0; i < 5; i++) await deny(decisions);

  const lines = readFileSync(auditLog, 'utf8').split('\n');
  t.is(lines.pop(), '', 'the log ends with a newline');
  const records = lines.map((l) => JSON.parse(l) as { method?: string; event?: string });
  const pulls = records.filter((r) => r.method === 'PullImage');
  t.is(pulls.length + (await failures()), decisions, 'every decision is a whole line or counted as lost');
  t.true(
    records.slice(-5).every((r) => r.method === 'PullImage'),
    'records after space came back are there',
  );
});
