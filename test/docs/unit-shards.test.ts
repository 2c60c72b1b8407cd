/**
 * The unit lane's shards (docs/adr/0063-test-lanes.md, addendum): several test files in one ava worker keep
 * their own titles, hooks and failures, and run one after another. Runs ava on a shard of two fixture
 * files (test/fixtures/unit-shards/) in a child process, as `npm run test:unit` does.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Plain JavaScript modules (no type declarations), loaded by URL. */
const load = (file: string): Promise<unknown> => import(pathToFileURL(join(ROOT, file)).href);
const { planShards, writeShards, SHARD_ROOT } = (await load('scripts/unit-shards.mjs')) as {
  planShards: (files: string[], count: number, weight: (file: string) => number) => string[][];
  writeShards: (files: string[], count: number, dir: string) => string[];
  SHARD_ROOT: string;
};

const FIXTURES = ['test/fixtures/unit-shards/first.js', 'test/fixtures/unit-shards/second.js'];

test('planShards puts every file in exactly one shard, at most `count` shards, the same way every time', (t) => {
  const files = Array.from({ length: 23 }, (_, i) => `.tmp/unit/test/f${String(i).padStart(2, '0')}.test.js`);
  const weight = (file: string) => (Number(file.slice(-10, -8)) % 7) + 1;
  const shards = planShards(files, 4, weight);
  t.is(shards.length, 4);
  t.deepEqual(shards.flat().sort(), files);
  t.deepEqual(planShards([...files].reverse(), 4, weight), shards);
  const weights = shards.map((shard) => shard.reduce((sum, file) => sum + weight(file), 0));
  t.true(Math.max(...weights) - Math.min(...weights) <= 7, String(weights));
  t.deepEqual(planShards(files.slice(0, 2), 4, weight).length, 2);
});

test('a shard of two files: own titles (even alike), own beforeEach, one file after the other, failures named', (t) => {
  mkdirSync(SHARD_ROOT, { recursive: true });
  const dir = mkdtempSync(join(SHARD_ROOT, 'selftest-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const shards = writeShards(FIXTURES, 1, dir);
  t.is(shards.length, 1);
  const ava = join(ROOT, 'node_modules/ava/entrypoints/cli.mjs');
  const run = spawnSync(process.execPath, [ava, '--config', 'ava.unit.config.js', ...shards], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  const out = run.stdout + run.stderr;
  t.is(run.status, 1, out);
  t.regex(out, /✔ test › fixtures › unit-shards › first › same title/);
  t.regex(out, /✔ test › fixtures › unit-shards › second › same title/);
  t.regex(out, /✘ \[fail\]: test › fixtures › unit-shards › first › fails here/);
  // The failure's stack names the fixture file and line it comes from, not only the shard.
  const line = readFileSync(join(ROOT, FIXTURES[0]!), 'utf8').split('\n').indexOf('  t.is(1 + 1, 3);') + 1;
  t.true(line > 0);
  t.true(out.includes(`test/fixtures/unit-shards/first.js:${line}:`), String(line));
  t.regex(out, /^\s*1 test failed$/m);
});
