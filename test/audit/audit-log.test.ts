/**
 * The audit log on a real full disk (a small tmpfs mounted for the test, as root) and after a crash mid-write:
 * every record in the file is whole or absent, and every loss is counted.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditLog } from '../../src/audit/audit-log.js';

/** A tmpfs of `size` bytes mounted for one test; unmounted and removed at teardown. */
function smallDisk(t: { teardown(fn: () => void): void }, size: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'cg-audit-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  t.teardown(() => {
    execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

function lines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n');
}

const padding = 'x'.repeat(900); // ~1 KiB records: several per 4 KiB page, so one write crosses the limit

test('on a full disk a cut record is removed, not left for the next one to be appended to; losses are counted', (t) => {
  const disk = smallDisk(t, 32 * 1024);
  const filler = join(disk, 'filler');
  writeFileSync(filler, Buffer.alloc(16 * 1024)); // half the disk, freed later
  const path = join(disk, 'audit', 'audit.log');
  const errors: Error[] = [];
  const audit = createAuditLog({ path, node: 'n1', onError: (e) => errors.push(e) });
  let n = 0;
  while (audit.failed === 0 && n < 100) audit.event('test', { n: n++, padding });
  t.true(audit.failed > 0, 'the disk filled up');
  // Keep writing on the full disk, then free space and write again.
  for (let i = 0; i < 5; i++) audit.event('test', { n: n++, padding });
  unlinkSync(filler);
  for (let i = 0; i < 5; i++) audit.event('test', { n: n++, padding });
  audit.close();

  const all = lines(path);
  t.is(all.at(-1), '', 'the file ends with a newline');
  const records = all.slice(0, -1).map((l) => JSON.parse(l) as { n: number; padding: string });
  t.true(
    records.every((r) => r.padding === padding),
    'every record whole',
  );
  t.is(records.length, audit.written);
  t.is(audit.written + audit.failed, n);
  t.is(errors.length, audit.failed);
  t.true(
    errors.some((e) => /ENOSPC/.test(e.message)),
    errors.map((e) => e.message).join('; '),
  );
  t.deepEqual(
    records.slice(-5).map((r) => r.n),
    [n - 5, n - 4, n - 3, n - 2, n - 1],
    'records after space came back are all there',
  );
});

test('a torn last line left by a crash mid-write is removed when the log is opened, and counted', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-audit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'audit.log');
  writeFileSync(path, `${JSON.stringify({ n: 0 })}\n`);
  appendFileSync(path, '{"n":1,"outcome":"al'); // kill -9 in the middle of a write
  const errors: Error[] = [];
  const audit = createAuditLog({ path, node: 'n1', onError: (e) => errors.push(e) });
  audit.event('test', { n: 2 });
  audit.close();
  t.deepEqual(
    lines(path)
      .filter((l) => l !== '')
      .map((l) => (JSON.parse(l) as { n: number }).n),
    [0, 2],
  );
  t.is(audit.failed, 1);
  t.regex(errors[0]!.message, /torn record/);
});

test('a FIFO at the audit path is refused at once (never waited on) and every record is counted lost', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-audit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'audit.log');
  execFileSync('mkfifo', [path]);
  const errors: Error[] = [];
  const audit = createAuditLog({ path, node: 'n1', onError: (e) => errors.push(e) });
  audit.event('test', { n: 1 });
  audit.close();
  t.is(audit.written, 0);
  t.is(audit.failed, 1);
  t.true(errors.length >= 1);
});

test('on stdout (a non-blocking pipe that fills up) a cut record is ended by a newline: the next record is a line of its own', async (t) => {
  const { spawn } = await import('node:child_process');
  // The child writes a 4 MiB record into a 64 KiB pipe without waiting (EAGAIN part-way), then a small one
  // once the parent has drained the pipe.
  const script = `
    import { createAuditLog } from ${JSON.stringify(new URL('../../src/audit/audit-log.ts', import.meta.url).pathname)};
    void process.stdout; // libuv makes the stdout pipe non-blocking
    const audit = createAuditLog({ path: '-', node: 'n1', onError: (e) => process.stderr.write('lost ' + e.code + '\\n') });
    audit.event('big', { padding: 'x'.repeat(4 * 1024 * 1024) });
    setTimeout(() => { audit.event('small', { n: 2 }); process.stderr.write('failed=' + audit.failed + '\\n'); }, 500);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  // Read slowly at first so the pipe is full when the big record is written.
  child.stdout.pause();
  setTimeout(() => child.stdout.resume(), 200);
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => child.on('close', resolve));
  t.regex(err, /failed=1/, err);
  const lines = out.split('\n').filter((l) => l !== '');
  const last = JSON.parse(lines.at(-1)!) as { event: string; n: number };
  t.is(last.event, 'small', 'the record after the cut one is whole');
  t.true(
    lines.slice(0, -1).every((l) => !l.includes('"small"')),
    'the small record was not glued to the fragment',
  );
});
