/**
 * The test lanes (docs/adr/0063-test-lanes.md): every test file is in exactly one of unit, integration and
 * e2e, `npm test` runs all of them, and the unit lane's compiled globs name the same files.
 */
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** ava's own glob matcher (lib/glob-helpers.cjs). */
const picomatch = createRequire(import.meta.url)('picomatch') as (
  globs: string[],
) => (file: string) => boolean;
/** Plain JavaScript modules (no type declarations), loaded by URL. */
const load = (file: string): Promise<unknown> => import(pathToFileURL(join(ROOT, file)).href);
const fullConfig = ((await load('ava.config.js')) as { default: { files: string[] } }).default;
const { COMPILED_UNIT_GLOBS, INTEGRATION_FILES, LANE_GLOBS } = (await load('scripts/test-lanes.mjs')) as {
  COMPILED_UNIT_GLOBS: { threads: string[]; process: string[] };
  INTEGRATION_FILES: string[];
  LANE_GLOBS: Record<'unit' | 'integration' | 'e2e', string[]>;
};

function testFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(path);
    return entry.name.endsWith('.test.ts') ? [relative('.', path)] : [];
  });
}

/** ava's reading of a `files` list: a file matches if some positive glob does and no `!` glob does. */
function matcher(globs: readonly string[]): (file: string) => boolean {
  const include = picomatch(globs.filter((g) => !g.startsWith('!')));
  const excluded = globs.filter((g) => g.startsWith('!')).map((g) => g.slice(1));
  const exclude = excluded.length > 0 ? picomatch(excluded) : () => false;
  return (file) => include(file) && !exclude(file);
}

const files = testFiles('test');
const lanes = Object.entries(LANE_GLOBS).map(([name, globs]) => [name, matcher(globs)] as const);

test('there are test files to sort (the walk found the suite)', (t) => {
  t.true(files.length > 100, String(files.length));
  t.true(files.includes('test/docs/test-lanes.test.ts'));
});

test('every test file is in exactly one lane', (t) => {
  const wrong = files
    .map((file) => [file, lanes.filter(([, matches]) => matches(file)).map(([name]) => name)] as const)
    .filter(([, names]) => names.length !== 1)
    .map(([file, names]) => `${file}: ${names.join(', ') || 'no lane'}`);
  t.deepEqual(wrong, []);
});

test('npm test (ava.config.js) runs every test file of every lane', (t) => {
  const all = matcher(fullConfig.files);
  t.deepEqual(
    files.filter((file) => !all(file)),
    [],
  );
});

test('every integration entry names an existing test file outside the e2e folders', (t) => {
  for (const file of INTEGRATION_FILES) {
    t.true(existsSync(join(ROOT, file)), `${file} does not exist: remove it from scripts/test-lanes.mjs`);
    t.true(matcher(LANE_GLOBS.integration)(file) && !matcher(LANE_GLOBS.e2e)(file), file);
  }
});

test('the compiled unit runs (threads, process) select the compiled form of each unit file exactly once', (t) => {
  const unit = matcher(LANE_GLOBS.unit);
  const threads = matcher(COMPILED_UNIT_GLOBS.threads);
  const processes = matcher(COMPILED_UNIT_GLOBS.process);
  for (const file of files) {
    const js = `.tmp/unit/${file.replace(/\.ts$/, '.js')}`;
    t.is(Number(threads(js)) + Number(processes(js)), unit(file) ? 1 : 0, file);
  }
  t.true(COMPILED_UNIT_GLOBS.process.length > 0);
});
