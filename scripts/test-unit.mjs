// `npm run test:unit [ava options] [test files or folders]`: compiles src/ and test/ to .tmp/unit/
// (scripts/build-unit-tests.mjs), then runs ava on the unit lane: ava.unit.config.js (worker threads) and,
// at the same time, ava.unit-process.config.js (the files that need a process; its report is printed
// after the first run's). Paths are given as written
// (`test/policy`, `test/cri/status.test.ts`), mapped to their compiled form and passed to the run(s) that
// hold a matching file; other arguments go to both unchanged. Exits non-zero if either run failed.
// Several worker-thread files are run in shards (scripts/unit-shards.mjs, scripts/unit-ava.mjs): a few ava
// workers, each importing a share of the files and running them one after another. `--isolated` (or
// `--match`, which selects by title) runs a worker a file instead.
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { URL, fileURLToPath } from 'node:url';
import { buildUnitTests, OUT } from './build-unit-tests.mjs';
import { SHARD_ROOT, THREAD_SHARDS, writeShards } from './unit-shards.mjs';
import { COMPILED_UNIT_GLOBS } from './test-lanes.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** ava's own glob matcher. */
const picomatch = createRequire(import.meta.url)('picomatch');

/** `test/a/b.test.ts` → `.tmp/unit/test/a/b.test.js`; `test/a` → `.tmp/unit/test/a`; anything else as is. */
export function compiledPath(arg) {
  if (!/^(\.\/)?test(\/|$)/.test(arg)) return arg;
  return `.tmp/unit/${arg.replace(/^\.\//, '').replace(/\/$/, '').replace(/\.ts$/, '.js')}`;
}

/** Compiled test files (paths from the repository root) a `files` list selects, as ava reads it. */
function selected(globs, all) {
  const include = picomatch(globs.filter((g) => !g.startsWith('!')));
  const exclude = picomatch(globs.filter((g) => g.startsWith('!')).map((g) => g.slice(1)));
  return all.filter((file) => include(file) && !exclude(file));
}

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return walk(path);
    return entry.name.endsWith('.test.js') ? [relative(ROOT, path)] : [];
  });
}

await buildUnitTests();
const ava = fileURLToPath(new URL('../node_modules/ava/entrypoints/cli.mjs', import.meta.url));
const argv = process.argv.slice(2);
const isolated = argv.includes('--isolated');
const args = argv.filter((arg) => arg !== '--isolated').map(compiledPath);
const isPath = (arg) => arg.startsWith('.tmp/unit/');
const paths = args.filter(isPath);
const options = args.filter((arg) => !isPath(arg));
/** `--match` selects by title, which a shard prefixes with the file: such a run keeps a worker a file. */
const sharding = !isolated && !options.some((arg) => /^(-m|--match)(=|$)/.test(arg));
const all = walk(join(OUT, 'test'));
const shardDir = join(SHARD_ROOT, String(process.pid));
/** The ava runs to make: configuration and arguments. */
const runs = [];
try {
  for (const [config, globs, shards] of [
    ['ava.unit.config.js', COMPILED_UNIT_GLOBS.threads, THREAD_SHARDS],
    // Not sharded: these few files wait on sockets and short idle timers, each needs its process's event
    // loop to itself (run together, a busy loop closed connections as idle before their first call).
    ['ava.unit-process.config.js', COMPILED_UNIT_GLOBS.process, 0],
  ]) {
    const files = selected(globs, all).filter(
      (file) => paths.length === 0 || paths.some((path) => file === path || file.startsWith(`${path}/`)),
    );
    if (files.length === 0 && paths.length > 0) continue;
    const run =
      sharding && shards > 0 && files.length > shards
        ? writeShards(files, shards, shardDir)
        : paths.length > 0
          ? files
          : [];
    if (run.length > 0 && run[0].startsWith('.tmp/unit-shards/')) {
      console.log(
        `unit lane: ${files.length} test files in ${run.length} shards (one ava worker each, its files one ` +
          `after another); durations include the wait for a shard's earlier files. ` +
          `\`npm run test:unit -- <file>\` runs a file on its own, \`--isolated\` a worker a file.`,
      );
    }
    runs.push([ava, '--config', config, ...options, ...run]);
  }
  // The runs go on at once (the process run mostly waits on sockets and timers); the first reports as it
  // goes, the others' reports are held and printed after it, in order.
  const color = process.stdout.isTTY ? { FORCE_COLOR: process.env.FORCE_COLOR ?? '1' } : {};
  const statuses = await Promise.all(
    runs.map((argv, i) => {
      const child = spawn(process.execPath, argv, {
        stdio: i === 0 ? 'inherit' : ['ignore', 'pipe', 'pipe'],
        env: i === 0 ? process.env : { ...process.env, ...color },
      });
      const output = [];
      child.stdout?.on('data', (chunk) => output.push(chunk));
      child.stderr?.on('data', (chunk) => output.push(chunk));
      return new Promise((resolve) => child.on('close', (code) => resolve({ code, output })));
    }),
  );
  for (const { output } of statuses.slice(1)) process.stdout.write(Buffer.concat(output));
  process.exitCode = statuses.every(({ code }) => code === 0) ? 0 : 1;
} finally {
  rmSync(shardDir, { recursive: true, force: true });
}
