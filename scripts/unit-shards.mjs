// Shards of the unit lane (docs/adr/0063-test-lanes.md, addendum): `npm run test:unit` runs several test
// files in one ava worker, so they share its start-up (~0.3 s of CPU per worker thread) and the loading of
// the modules they import, instead of paying both once per file. A shard is a module that imports its test
// files one after the other, each announced to scripts/unit-ava.mjs so its titles read `<file> › <title>`.
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { URL, fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Where runs write their shards, one folder per run (`<pid>/shard-<n>.test.js`). */
export const SHARD_ROOT = join(ROOT, '.tmp', 'unit-shards');
/** ava glob of the shard files, for the configurations. */
export const SHARD_GLOB = '.tmp/unit-shards/*/*.test.js';
/** Shards of the worker-thread run: enough to keep both of ava's workers busy to the end of the run. */
export const THREAD_SHARDS = 4;
/** How many of a shard's files run their (concurrent) tests at once (scripts/unit-ava.mjs, `declareAll`). */
export const FILES_AT_ONCE = 1;
const SHIM = pathToFileURL(join(ROOT, 'scripts', 'unit-ava.mjs')).href;

/**
 * Splits test files (paths from the repository root) into at most `count` shards of about equal weight
 * (a file's weight: its compiled size, a stand-in for how many tests it declares), heaviest first, each
 * to the lightest shard so far; ties go by path, so the same files always make the same shards.
 */
export function planShards(files, count, weight) {
  const shards = Array.from({ length: Math.min(count, files.length) }, () => ({ files: [], weight: 0 }));
  const byWeight = files
    .map((file) => ({ file, weight: weight(file) }))
    .sort((a, b) => b.weight - a.weight || (a.file < b.file ? -1 : 1));
  for (const { file, weight: w } of byWeight) {
    const lightest = shards.reduce((min, shard) => (shard.weight < min.weight ? shard : min));
    lightest.files.push(file);
    lightest.weight += w;
  }
  return shards.map((shard) => shard.files.sort());
}

/** `.tmp/unit/test/policy/load.test.js` → `policy › load`, as ava titles the file in a run of several. */
export function fileTitle(file) {
  return file
    .replace(/^\.tmp\/unit\/test\//, '')
    .replace(/(\.test)?\.js$/, '')
    .split('/')
    .join(' › ');
}

/** The source of a shard importing `files` (paths from the repository root). */
export function shardSource(files) {
  const lines = [`import { beginFile, declareAll } from ${JSON.stringify(SHIM)};`];
  for (const file of files) {
    lines.push(`beginFile(${JSON.stringify(fileTitle(file))});`);
    lines.push(`await import(${JSON.stringify(pathToFileURL(join(ROOT, file)).href)});`);
  }
  lines.push(`declareAll(${FILES_AT_ONCE});`);
  return `${lines.join('\n')}\n`;
}

/** Writes the shards of `files` into `dir`; returns their paths from the repository root, for ava. */
export function writeShards(files, count, dir) {
  mkdirSync(dir, { recursive: true });
  return planShards(files, count, (file) => statSync(join(ROOT, file)).size).map((shard, i) => {
    const path = join(dir, `shard-${i + 1}.test.js`);
    writeFileSync(path, shardSource(shard));
    return relative(ROOT, path);
  });
}
