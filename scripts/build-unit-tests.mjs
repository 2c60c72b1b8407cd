// Compiles src/ and test/ (TypeScript) to plain ES modules under .tmp/unit/ for the fast unit lane
// (docs/adr/0063-test-lanes.md): ava then runs JavaScript without tsx, whose loader and per-file transpile
// cost ~0.4 s of CPU per test file. One esbuild transform per file, no bundling, so the module graph (and
// each test file's isolation) is the same as under tsx. `import.meta.url` is replaced by the URL of the
// original .ts file, so paths computed from it (fixtures, the repository root) are unchanged; an inline
// source map points coverage (c8) and stack traces back at the .ts file. A file whose modification time and
// size are those of the last build is not compiled again (.tmp/unit/.sources.json).
import { transform, version } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { URL, fileURLToPath, pathToFileURL } from 'node:url';
import { E2E_DIRS } from './test-lanes.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const OUT = join(ROOT, '.tmp', 'unit');
/** Trees that are compiled, less the e2e lane's folders (they run under tsx only). */
const TREES = ['src', 'test'];
/** The `ava` the compiled test files import instead of ava itself. */
const SHIM = join(ROOT, 'scripts', 'unit-ava.mjs');
const SKIPPED = new Set(E2E_DIRS.map((dir) => join(ROOT, 'test', dir)));

async function* files(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIPPED.has(path)) yield* files(path);
    } else yield path;
  }
}

/**
 * Writes `content` to `path` unless it already holds it; a changed file is replaced by rename, so a unit
 * run started from another shell never reads a half-written or missing module.
 */
async function update(path, content) {
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === content) return;
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, content);
  await rename(temp, path);
}

/**
 * What the last build compiled: per source file (path from the root), its modification time and size
 * then; `stamp` is this script's own text and esbuild's version (a change to either rebuilds everything).
 */
const MANIFEST = join(OUT, '.sources.json');

/**
 * Compiles (a .ts file) or copies (a .json file) one file, unless the last build did so from a source of
 * the same modification time and size and its output is still there; returns its output path, if any.
 */
async function compile(path, previous, next) {
  const rel = relative(ROOT, path);
  const out = join(OUT, rel.replace(/\.ts$/, '.js'));
  if (!rel.endsWith('.json') && !rel.endsWith('.ts')) return undefined;
  const { mtimeMs, size } = await stat(path);
  next[rel] = `${mtimeMs}:${size}`;
  if (previous[rel] === next[rel] && (await stat(out).catch(() => undefined))) return out;
  if (rel.endsWith('.json')) {
    await update(out, await readFile(path, 'utf8'));
    return out;
  }
  const { code } = await transform(await readFile(path, 'utf8'), {
    loader: 'ts',
    format: 'esm',
    platform: 'node',
    target: 'node20.19',
    sourcemap: 'inline',
    sourcesContent: false,
    sourcefile: relative(dirname(out), path),
    define: { 'import.meta.url': JSON.stringify(pathToFileURL(path).href) },
  });
  await update(out, rel.startsWith('test/') ? withShardableAva(code, out) : code);
  return out;
}

/**
 * A compiled test module importing ava through scripts/unit-ava.mjs, which lets several test files share
 * one ava worker (a shard, scripts/test-unit.mjs) with their titles kept apart.
 */
function withShardableAva(code, out) {
  const shim = relative(dirname(out), SHIM);
  return code.replace(/(\bfrom\s*|\bimport\s*\(\s*|\bimport\s*)"ava"/g, (_, lead) => `${lead}"${shim}"`);
}

/** Brings .tmp/unit/ up to date with src/ and test/: changed files rewritten, removed ones deleted. */
export async function buildUnitTests() {
  const sources = [];
  for (const tree of TREES) for await (const path of files(join(ROOT, tree))) sources.push(path);
  const stamp = createHash('sha256')
    .update(await readFile(fileURLToPath(import.meta.url)))
    .update(version)
    .digest('hex');
  const last = JSON.parse(await readFile(MANIFEST, 'utf8').catch(() => '{}'));
  const previous = last.stamp === stamp ? last.files : {};
  const next = {};
  const written = new Set(await Promise.all(sources.map((path) => compile(path, previous, next))));
  written.add(MANIFEST);
  await mkdir(OUT, { recursive: true });
  for await (const path of files(OUT)) {
    if (!written.has(path)) await unlink(path);
  }
  await update(MANIFEST, JSON.stringify({ stamp, files: next }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildUnitTests();
