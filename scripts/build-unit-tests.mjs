// Compiles src/ and test/ (TypeScript) to plain ES modules under .tmp/unit/ for the fast unit lane
// (docs/adr/0063-test-lanes.md): ava then runs JavaScript without tsx, whose loader and per-file transpile
// cost ~0.4 s of CPU per test file. One esbuild transform per file, no bundling, so the module graph (and
// each test file's isolation) is the same as under tsx. `import.meta.url` is replaced by the URL of the
// original .ts file, so paths computed from it (fixtures, the repository root) are unchanged; an inline
// source map points coverage (c8) and stack traces back at the .ts file.
import { transform } from 'esbuild';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { E2E_DIRS } from './test-lanes.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const OUT = join(ROOT, '.tmp', 'unit');
/** Trees that are compiled, less the e2e lane's folders (they run under tsx only). */
const TREES = ['src', 'test'];
const SKIPPED = new Set(E2E_DIRS.map((dir) => join(ROOT, 'test', dir)));

async function* files(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIPPED.has(path)) yield* files(path);
    } else yield path;
  }
}

async function compile(path) {
  const rel = relative(ROOT, path);
  const out = join(OUT, rel.replace(/\.ts$/, '.js'));
  await mkdir(dirname(out), { recursive: true });
  if (!rel.endsWith('.ts')) {
    if (rel.endsWith('.json')) await copyFile(path, out);
    return;
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
  await writeFile(out, code);
}

/** Replaces .tmp/unit/ with a fresh compilation of src/ and test/. */
export async function buildUnitTests() {
  await rm(OUT, { recursive: true, force: true });
  const all = [];
  for (const tree of TREES) for await (const path of files(join(ROOT, tree))) all.push(path);
  await Promise.all(all.map(compile));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildUnitTests();
