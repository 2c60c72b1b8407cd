import test from 'ava';
import type { ExecutionContext } from 'ava';
import { chmod, chown, link, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createQuarantineMonitor,
  type QuarantineListChange,
  type QuarantineMonitorOptions,
} from '../../src/quarantine/monitor.js';
import type { QuarantineStatus } from '../../src/quarantine/state.js';
import {
  BAD,
  GOOD,
  HOUR,
  NOW,
  atomicWrite,
  entry,
  iso,
  quarantineDir,
  quarantineYaml,
  within,
} from './helpers.js';

const BAD_IMAGE = { names: [{ name: 'registry.example/team/app', digest: BAD }], digests: [BAD] };
const GOOD_IMAGE = { names: [{ name: 'registry.example/team/app', digest: GOOD }], digests: [GOOD] };

async function setup(t: ExecutionContext, initial?: string, options: Partial<QuarantineMonitorOptions> = {}) {
  const { dir, path } = await quarantineDir(t);
  if (initial !== undefined) await atomicWrite(path, initial);
  const changes: { status: QuarantineStatus; change: QuarantineListChange }[] = [];
  const monitor = createQuarantineMonitor({
    path,
    clock: () => NOW,
    onChange: (status, change) => void changes.push({ status, change }),
    ...options,
  });
  t.teardown(() => monitor.close());
  return { dir, path, monitor, changes };
}

test('a valid file: its entries refuse matching images, with the reason, ticket and file hash', async (t) => {
  const { monitor } = await setup(t, quarantineYaml(entry(BAD)));
  const hit = monitor.check(BAD_IMAGE, NOW);
  t.is(hit?.kind, 'entry');
  if (hit?.kind !== 'entry') return;
  t.is(hit.entry, BAD);
  t.is(hit.reason, 'CVE-2026-0001 compromised release');
  t.is(hit.ticket, 'INC-42');
  t.regex(hit.fileSha256, /^sha256:[0-9a-f]{64}$/);
  t.is(monitor.check(GOOD_IMAGE, NOW), undefined);
  t.true(monitor.inForce(NOW));
  t.is(monitor.status(NOW).inForce, 1);
});

test('no file: nothing is quarantined and nothing is in force', async (t) => {
  const { monitor } = await setup(t);
  t.is(monitor.check(BAD_IMAGE, NOW), undefined);
  t.false(monitor.inForce(NOW));
  t.is(monitor.status(NOW).state, 'absent');
});

test('an added entry takes effect within 2 s; the change lists it', async (t) => {
  const { path, monitor, changes } = await setup(t, quarantineYaml([]));
  await atomicWrite(path, quarantineYaml(entry(BAD)));
  const elapsed = await within(t, 2000, () => monitor.check(BAD_IMAGE, NOW) !== undefined);
  t.true(elapsed < 2000);
  t.deepEqual(
    changes.at(-1)?.change.added.map((e) => e.image),
    [BAD],
  );
  await atomicWrite(path, quarantineYaml([]));
  await within(t, 2000, () => monitor.check(BAD_IMAGE, NOW) === undefined);
  t.deepEqual(
    changes.at(-1)?.change.removed.map((e) => e.image),
    [BAD],
  );
});

test('expiry: an entry stops refusing at its expiresAt, checked at every call', async (t) => {
  const { monitor } = await setup(t, quarantineYaml(entry(BAD, [`    expiresAt: ${iso(NOW + HOUR)}`])));
  t.truthy(monitor.check(BAD_IMAGE, NOW + HOUR - 1));
  t.is(monitor.check(BAD_IMAGE, NOW + HOUR), undefined);
  t.false(monitor.inForce(NOW + HOUR));
  t.false(monitor.status(NOW + HOUR).entries[0]?.inForce);
});

/** Each unsafe file, written after a valid one: the valid list stays in force, the state says why. */
const unsafeAfterValid: [string, string, (path: string, dir: string) => Promise<void>][] = [
  [
    'symlinked_quarantine_fail',
    'CG_ERR_QUARANTINE_SYMLINK',
    async (path, dir) => {
      await writeFile(join(dir, 'elsewhere.yaml'), quarantineYaml([]));
      await unlink(path);
      await symlink(join(dir, 'elsewhere.yaml'), path);
    },
  ],
  [
    'hardlinked_quarantine_fail',
    'CG_ERR_QUARANTINE_HARDLINK',
    async (path, dir) => {
      await atomicWrite(path, quarantineYaml([]));
      await link(path, join(dir, 'second-name'));
    },
  ],
  [
    'non_root_owned_quarantine_fail',
    'CG_ERR_QUARANTINE_OWNER',
    async (path) => {
      await atomicWrite(path, quarantineYaml([]));
      await chown(path, 1000, 1000);
    },
  ],
  [
    'writable_by_others_quarantine_fail',
    'CG_ERR_QUARANTINE_MODE',
    async (path) => {
      await atomicWrite(path, quarantineYaml([]));
      await chmod(path, 0o666);
    },
  ],
  [
    'half_written_quarantine_fail',
    'CG_ERR_QUARANTINE_INCOMPLETE',
    async (path) => {
      // An in-place write cut after the first entry's fields but before the rest and the end marker.
      await writeFile(path, 'entries: []\n');
    },
  ],
  [
    'invalid_after_valid_fail',
    'CG_ERR_QUARANTINE_PARSE',
    async (path) => atomicWrite(path, 'entries: [{image: "sha256:nothex", reason: x}]\nend: true\n'),
  ],
];

for (const [name, code, spoil] of unsafeAfterValid) {
  test(`${name}: a file that cannot be trusted does not lift the quarantine (${code})`, async (t) => {
    const { path, dir, monitor, changes } = await setup(t, quarantineYaml(entry(BAD)));
    const good = monitor.status(NOW).fileSha256;
    await spoil(path, dir);
    await within(t, 2000, () => monitor.status(NOW).state === 'invalid');
    const status = monitor.status(NOW);
    t.is(status.problem?.code as string | undefined, code);
    t.false(status.denyAll);
    t.is(status.keptFileSha256, good);
    t.is(status.inForce, 1);
    t.is(monitor.check(BAD_IMAGE, NOW)?.kind, 'entry', 'the last good entry still refuses');
    t.is(monitor.check(GOOD_IMAGE, NOW), undefined);
    t.is(changes.at(-1)?.change.removed.length, 0, 'no entry reported removed');
  });
}

test('invalid_at_start_fail: a file that cannot be trusted since start refuses every image', async (t) => {
  const { path, monitor } = await setup(t, 'entries:\n  - image: "sha256:' + 'b'.repeat(64) + '"\n');
  const status = monitor.status(NOW);
  t.is(status.state, 'invalid');
  t.true(status.denyAll);
  t.is(status.problem?.code, 'CG_ERR_QUARANTINE_INCOMPLETE');
  t.true(monitor.inForce(NOW));
  const hit = monitor.check(GOOD_IMAGE, NOW);
  t.is(hit?.kind, 'unknown');
  // Fixing the file restores normal checks within 2 s.
  await atomicWrite(path, quarantineYaml(entry(BAD)));
  await within(t, 2000, () => monitor.status(NOW).state === 'valid');
  t.is(monitor.check(GOOD_IMAGE, NOW), undefined);
  t.is(monitor.check(BAD_IMAGE, NOW)?.kind, 'entry');
});

test('a non-root-owned file at start is not trusted either (every image refused)', async (t) => {
  const { path } = await quarantineDir(t);
  await atomicWrite(path, quarantineYaml([]));
  await chown(path, 1000, 1000);
  const monitor = createQuarantineMonitor({ path });
  t.teardown(() => monitor.close());
  t.is(monitor.status(NOW).problem?.code, 'CG_ERR_QUARANTINE_OWNER');
  t.is(monitor.check(GOOD_IMAGE, NOW)?.kind, 'unknown');
});

test('removing the file lifts every entry (an operator action in a root-only directory)', async (t) => {
  const { path, monitor, changes } = await setup(t, quarantineYaml(entry(BAD)));
  await unlink(path);
  await within(t, 2000, () => monitor.status(NOW).state === 'absent');
  t.is(monitor.check(BAD_IMAGE, NOW), undefined);
  t.deepEqual(
    changes.at(-1)?.change.removed.map((e) => e.image),
    [BAD],
  );
});
