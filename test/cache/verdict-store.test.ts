/** Persisted verdicts: only state this daemon wrote, in a private directory, is trusted. */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VerdictCache, type CachedVerdict } from '../../src/cache/verdict-cache.js';
import { createVerdictStore } from '../../src/cache/verdict-store.js';
import type { Verdict } from '../../src/policy/verdict.js';

const HOUR = 3_600_000;
const NOW = Date.now();

function verdict(decision: 'allow' | 'deny'): Verdict {
  return {
    decision,
    wouldBe: decision,
    reason: decision === 'allow' ? 'ATTESTATIONS_SATISFIED' : 'ATTESTOR_MISSING',
    dryRun: false,
    enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
    rule: { kind: 'default' },
    satisfied: [],
    missing: [],
    policyRevision: 'sha256:rev',
  } as unknown as Verdict;
}

const ENTRY: CachedVerdict = {
  key: `sha256:rev|default:|example.com/signed|sha256:${'a'.repeat(64)}`,
  verdict: verdict('allow'),
  expiresAt: NOW + HOUR,
};

function stateDir(t: { teardown(fn: () => void): void }): { dir: string; state: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cg-verdicts-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'state');
  return { dir, state };
}

/** Saved by the store itself: a legitimate state directory. */
function saved(t: { teardown(fn: () => void): void }) {
  const { dir, state } = stateDir(t);
  const store = createVerdictStore(state);
  store.save([ENTRY]);
  return { dir, state, store };
}

test('round trip: saved entries load back; the directory is 0700 and both files 0600', (t) => {
  const { state, store } = saved(t);
  t.deepEqual(store.load(), { entries: [ENTRY], problem: undefined });
  t.is(statSync(state).mode & 0o777, 0o700);
  t.is(statSync(join(state, 'verdicts.json')).mode & 0o777, 0o600);
  t.is(statSync(join(state, 'verdicts.key')).mode & 0o777, 0o600);
  t.is(statSync(join(state, 'verdicts.key')).size, 32);
});

test('a missing state directory or file is no problem (first start)', (t) => {
  const { state } = stateDir(t);
  t.deepEqual(createVerdictStore(state).load(), { entries: [], problem: undefined });
  mkdirSync(state, { mode: 0o700 });
  t.deepEqual(createVerdictStore(state).load(), { entries: [], problem: undefined });
});

test('a group- or world-writable state directory is not trusted, and not written to', (t) => {
  for (const mode of [0o777, 0o770, 0o1777]) {
    const { state, store } = saved(t);
    chmodSync(state, mode);
    const loaded = store.load();
    t.deepEqual(loaded.entries, []);
    t.regex(loaded.problem ?? '', /state directory unsafe: .* (group- or world-writable)/);
    t.throws(() => store.save([ENTRY]), { message: /state directory unsafe/ });
  }
});

test('a state directory owned by someone else, or a symlink, is not trusted', (t) => {
  const { dir, state, store } = saved(t);
  chownSync(state, 65534, 65534);
  t.regex(store.load().problem ?? '', /owned by uid 65534/);
  chownSync(state, 0, 0);
  const link = join(dir, 'link');
  symlinkSync(state, link);
  t.regex(createVerdictStore(link).load().problem ?? '', /not a directory/);
});

test("a verdict file that is another uid's, group-writable, hard-linked, a symlink or a FIFO is not trusted", (t) => {
  const cases: Array<[string, (file: string, dir: string) => void, RegExp]> = [
    ['owner', (f) => chownSync(f, 65534, 65534), /owned by uid 65534/],
    ['mode', (f) => chmodSync(f, 0o620), /mode 0620/],
    ['hard link', (f, d) => linkSync(f, join(d, 'other')), /2 hard links/],
    [
      'symlink',
      (f, d) => {
        renameSync(f, join(d, 'real.json'));
        symlinkSync(join(d, 'real.json'), f);
      },
      /symbolic link/,
    ],
    [
      'fifo',
      (f) => {
        rmSync(f);
        execFileSync('mkfifo', ['-m', '0600', f]);
      },
      /not a regular file \(a FIFO\)/,
    ],
  ];
  for (const [what, spoil, problem] of cases) {
    const { dir, state, store } = saved(t);
    spoil(join(state, 'verdicts.json'), dir);
    const loaded = store.load();
    t.deepEqual(loaded.entries, [], what);
    t.regex(loaded.problem ?? '', problem, what);
  }
});

test('a forged entry (an allow for another digest) does not verify, whatever checksum it carries', (t) => {
  const { state, store } = saved(t);
  const path = join(state, 'verdicts.json');
  const file = JSON.parse(readFileSync(path, 'utf8')) as { body: { entries: [string][] }; mac: string };
  file.body.entries[0]![0] = ENTRY.key.replace('example.com/signed', 'example.com/unsigned');
  writeFileSync(path, JSON.stringify(file));
  t.deepEqual(store.load(), { entries: [], problem: 'MAC mismatch: not written by this node' });
});

test('a verdict file from another node (another key) does not verify; a missing key voids the file', (t) => {
  const { state, store } = saved(t);
  const otherKey = randomBytes(32);
  const path = join(state, 'verdicts.json');
  const file = JSON.parse(readFileSync(path, 'utf8')) as { body: unknown; mac: string };
  file.mac = createHmac('sha256', otherKey).update(JSON.stringify(file.body)).digest('hex');
  writeFileSync(path, JSON.stringify(file));
  t.is(store.load().problem, 'MAC mismatch: not written by this node');
  rmSync(join(state, 'verdicts.key'));
  t.regex(store.load().problem ?? '', /no usable key/);
  chmodSync(path, 0o600);
});

test('a key readable by others is not used', (t) => {
  const { state, store } = saved(t);
  chmodSync(join(state, 'verdicts.key'), 0o644);
  t.regex(store.load().problem ?? '', /no usable key: .*mode 0644/);
});

test('restore skips an expiry further ahead than the TTL allows', (t) => {
  const cache = new VerdictCache({ maxEntries: 10, allowTtlMs: HOUR, denyTtlMs: 60_000, now: () => NOW });
  const loaded = cache.restore([
    { ...ENTRY, key: 'far', expiresAt: NOW + 365 * 24 * HOUR },
    { ...ENTRY, key: 'deny-far', verdict: verdict('deny'), expiresAt: NOW + HOUR },
    { ...ENTRY, key: 'ok' },
  ]);
  t.is(loaded, 1);
  t.truthy(cache.get('ok'));
  t.is(cache.get('far'), undefined);
  t.is(cache.get('deny-far'), undefined);
});

test('verdicts shared by many entries are stored once, and load back shared', (t) => {
  const { state } = stateDir(t);
  const store = createVerdictStore(state);
  // Equal verdicts (separate objects, as separate verifications make them) and one different.
  const entries: CachedVerdict[] = Array.from({ length: 1000 }, (_, i) => ({
    key: `sha256:rev|default:|example.com/app-${i}|sha256:${i.toString(16).padStart(64, '0')}`,
    verdict: verdict(i === 999 ? 'deny' : 'allow'),
    expiresAt: NOW + HOUR,
  }));
  store.save(entries);
  const file = JSON.parse(readFileSync(join(state, 'verdicts.json'), 'utf8')) as {
    body: { verdicts: unknown[] };
  };
  t.is(file.body.verdicts.length, 2);
  const loaded = store.load();
  t.is(loaded.problem, undefined);
  t.deepEqual(loaded.entries, entries);
  t.is(loaded.entries[0]!.verdict, loaded.entries[998]!.verdict);
});

test('a verified file whose entries are malformed is refused as a whole', (t) => {
  const { state, store } = saved(t);
  const path = join(state, 'verdicts.json');
  const key = readFileSync(join(state, 'verdicts.key'));
  for (const row of [
    ['k', NOW + HOUR, 1],
    ['k', 'soon', 0],
    [7, NOW + HOUR, 0],
    ['k', NOW + HOUR],
  ]) {
    const file = JSON.parse(readFileSync(path, 'utf8')) as { body: { entries: unknown[] }; mac: string };
    file.body.entries[0] = row;
    file.mac = createHmac('sha256', key).update(JSON.stringify(file.body)).digest('hex');
    writeFileSync(path, JSON.stringify(file));
    t.deepEqual(store.load(), { entries: [], problem: 'unknown format' }, JSON.stringify(row));
  }
});

test('a background save writes the same trusted file (0600, MAC-checked) and refuses an unsafe directory', async (t) => {
  const { state } = stateDir(t);
  const store = createVerdictStore(state);
  await store.saveInBackground([ENTRY]);
  t.deepEqual(store.load(), { entries: [ENTRY], problem: undefined });
  t.is(statSync(join(state, 'verdicts.json')).mode & 0o777, 0o600);
  chmodSync(state, 0o777);
  await t.throwsAsync(store.saveInBackground([ENTRY]), { message: /state directory unsafe/ });
  chmodSync(state, 0o700);
});
