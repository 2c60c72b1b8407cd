import test from 'ava';
import type { ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { chmod, mkdir, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createBreakglassMonitor, type BreakglassMonitorOptions } from '../../src/breakglass/monitor.js';
import type { BreakglassStatus } from '../../src/breakglass/status.js';
import { HOUR, NOW, iso, tempDir, writeWithMode, yamlDoc } from './helpers.js';

const IN_PAYMENTS = { namespace: 'payments', imageName: 'gcr.io/acme/app', digest: undefined };
const IN_DEFAULT = { namespace: 'default', imageName: 'gcr.io/acme/app', digest: undefined };
const sha = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const nsDoc = (ns: string, expiresAt = NOW + HOUR) =>
  yamlDoc({ expiresAt: iso(expiresAt), scope: [`  namespaces: [${ns}]`] });

/** A monitor on `dir/etc/breakglass.yaml` with a fixed clock, closed after the test; records onChange. */
async function setup(t: ExecutionContext, options: Partial<BreakglassMonitorOptions> = {}, initial?: string) {
  const dir = await tempDir(t);
  const etc = join(dir, 'etc');
  await mkdir(etc);
  await chmod(etc, 0o755);
  const path = join(etc, 'breakglass.yaml');
  if (initial !== undefined) await writeWithMode(path, initial);
  const changes: BreakglassStatus[] = [];
  const monitor = createBreakglassMonitor({
    path,
    clock: () => NOW,
    onChange: (s) => void changes.push(s),
    ...options,
  });
  t.teardown(() => monitor.close());
  return { dir, etc, path, monitor, changes };
}

/** Polls until `ready()` holds; returns the elapsed milliseconds, or fails after `limitMs`. */
async function within(t: ExecutionContext, limitMs: number, ready: () => boolean): Promise<number> {
  const start = Date.now();
  while (!ready()) {
    if (Date.now() - start > limitMs) {
      t.fail(`not within ${limitMs} ms`);
      return Number.POSITIVE_INFINITY;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}

/** Writes `text` next to `path` and renames it over `path` (what editors and the CLI do). */
async function atomicReplace(path: string, text: string): Promise<void> {
  const temp = `${path}.tmp`;
  await writeWithMode(temp, text);
  await rename(temp, path);
}

test('reads the file at creation: active, scoped, with the file hash', async (t) => {
  const text = nsDoc('payments');
  const { monitor, changes } = await setup(t, {}, text);
  const status = monitor.status(NOW);
  t.is(status.state, 'active');
  t.is(status.fileSha256, sha(text));
  t.deepEqual(status.scope, { namespaces: ['payments'] });
  const grant = monitor.grantFor(IN_PAYMENTS, NOW);
  t.is(grant?.fileSha256, sha(text));
  t.deepEqual(grant?.matched, ['namespace:payments']);
  t.is(monitor.grantFor(IN_DEFAULT, NOW), undefined);
  t.deepEqual(changes, [], 'no onChange for the initial state');
});

test('atomic replace: a file renamed over the old one takes effect within 2 s', async (t) => {
  const { path, monitor, changes } = await setup(t, {}, nsDoc('payments'));
  const next = nsDoc('default');
  await atomicReplace(path, next);
  const elapsed = await within(t, 2000, () => monitor.status(NOW).fileSha256 === sha(next));
  t.true(elapsed < 2000);
  t.is(monitor.grantFor(IN_PAYMENTS, NOW), undefined);
  t.truthy(monitor.grantFor(IN_DEFAULT, NOW));
  t.is(changes.at(-1)?.fileSha256, sha(next));
  t.is(changes.at(-1)?.state, 'active');
});

test('fs.watch alone picks up a replacement (periodic re-check far away)', async (t) => {
  const { path, monitor } = await setup(t, { recheckMs: 60_000 }, nsDoc('payments'));
  const next = nsDoc('default');
  await atomicReplace(path, next);
  await within(t, 2000, () => monitor.status(NOW).fileSha256 === sha(next));
  t.pass();
});

test('removal takes effect within 2 s', async (t) => {
  const { path, monitor, changes } = await setup(t, {}, nsDoc('payments'));
  await unlink(path);
  await within(t, 2000, () => monitor.status(NOW).state === 'absent');
  t.is(monitor.grantFor(IN_PAYMENTS, NOW), undefined);
  t.deepEqual(changes.at(-1), { state: 'absent' });
});

test('a file created later is picked up within 2 s', async (t) => {
  const { path, monitor, changes } = await setup(t);
  t.is(monitor.status(NOW).state, 'absent');
  await atomicReplace(path, nsDoc('payments'));
  await within(t, 2000, () => monitor.grantFor(IN_PAYMENTS, NOW) !== undefined);
  t.is(changes.at(-1)?.state, 'active');
});

test('replaced_by_invalid_file_fail: an invalid replacement grants nothing and says why', async (t) => {
  const { path, monitor, changes } = await setup(t, {}, nsDoc('payments'));
  const bad = `${nsDoc('payments')}enforce: false\n`;
  await atomicReplace(path, bad);
  await within(t, 2000, () => monitor.status(NOW).state === 'invalid');
  t.is(monitor.grantFor(IN_PAYMENTS, NOW), undefined);
  const last = changes.at(-1);
  t.is(last?.problem?.code, 'CG_ERR_BREAKGLASS_PARSE');
  t.is(last?.fileSha256, sha(bad));
});

test('made_unsafe_fail: a chmod to group-writable is noticed by the re-check', async (t) => {
  const { path, monitor } = await setup(t, {}, nsDoc('payments'));
  await chmod(path, 0o620);
  await within(t, 2000, () => monitor.status(NOW).problem?.code === 'CG_ERR_BREAKGLASS_MODE');
  t.is(monitor.grantFor(IN_PAYMENTS, NOW), undefined);
});

test('the directory removed and recreated: the monitor keeps following the path', async (t) => {
  const { etc, path, monitor } = await setup(t, {}, nsDoc('payments'));
  await rm(etc, { recursive: true });
  await within(t, 2000, () => monitor.status(NOW).state === 'absent');
  await mkdir(etc, { mode: 0o700 });
  await atomicReplace(path, nsDoc('default'));
  await within(t, 2000, () => monitor.grantFor(IN_DEFAULT, NOW) !== undefined);
  t.pass();
});

test('expiry is checked at decision time: a grant valid at t stops at t+expiry without any file event', async (t) => {
  const { monitor } = await setup(t, { recheckMs: 60_000 }, nsDoc('payments', NOW + HOUR));
  t.truthy(monitor.grantFor(IN_PAYMENTS, NOW));
  t.truthy(monitor.grantFor(IN_PAYMENTS, NOW + HOUR - 1));
  t.is(monitor.grantFor(IN_PAYMENTS, NOW + HOUR), undefined);
  t.is(monitor.status(NOW + HOUR).state, 'expired');
  t.is(monitor.status(NOW + HOUR).problem?.code, 'CG_ERR_BREAKGLASS_EXPIRED');
});

test('onChange reports the expiry when the injected clock passes it', async (t) => {
  let now = NOW;
  const { monitor, changes } = await setup(
    t,
    { clock: () => now, recheckMs: 50 },
    nsDoc('payments', NOW + HOUR),
  );
  t.is(monitor.status(now).state, 'active');
  now = NOW + HOUR;
  await within(t, 2000, () => changes.at(-1)?.state === 'expired');
  t.is(changes.length, 1);
});

test('a throwing onChange does not stop the monitor', async (t) => {
  const { path, monitor } = await setup(
    t,
    {
      onChange: () => {
        throw new Error('logger down');
      },
    },
    nsDoc('payments'),
  );
  await unlink(path);
  await within(t, 2000, () => monitor.status(NOW).state === 'absent');
  await atomicReplace(path, nsDoc('default'));
  await within(t, 2000, () => monitor.grantFor(IN_DEFAULT, NOW) !== undefined);
  t.pass();
});

test('after close, nothing is granted', async (t) => {
  const { monitor } = await setup(t, {}, nsDoc('payments'));
  monitor.close();
  t.is(monitor.grantFor(IN_PAYMENTS, NOW), undefined);
});

test('refresh re-reads immediately', async (t) => {
  const { path, monitor } = await setup(t, { recheckMs: 60_000 }, nsDoc('payments'));
  await unlink(path);
  t.is(monitor.refresh().state, 'absent');
});
