import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdmissionError } from '../../src/admission/errors.js';
import { decideUndecided, errorCode } from '../../src/admission/undecided.js';
import { ERROR_CODES, isErrorCode, type ErrorCode } from '../../src/errors/catalog.js';
import { CriguardError, errorCodeOf } from '../../src/errors/criguard-error.js';
import { FileReadError } from '../../src/files/read-regular-file.js';
import { RegistryError } from '../../src/registry/errors.js';
import { VerifyError } from '../../src/verify/errors.js';
import type { CompiledRule } from '../../src/policy/types.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** A whole code: `CG_ERR_FOO_*` or `CG_ERR_FOO_` (prose for a family of codes) is not one. */
const CODE = /CG_ERR_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_*])/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'generated' ? [] : sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** code → files of src/ (outside src/errors/) that write it. */
function codesInSource(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of sourceFiles(join(ROOT, 'src'))) {
    const rel = relative(ROOT, file);
    if (rel.startsWith('src/errors/')) continue;
    for (const [code] of readFileSync(file, 'utf8').matchAll(CODE)) {
      found.set(code, [...(found.get(code) ?? []), rel]);
    }
  }
  return found;
}

/** code → "Raised by" of each row of the table in docs/errors.md. */
function documentedCodes(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of readFileSync(join(ROOT, 'docs/errors.md'), 'utf8').split('\n')) {
    const row = /^\| `(CG_ERR_[A-Z0-9_]+)` \| ([^|]+) \|/.exec(line);
    if (row) {
      if (rows.has(row[1]!)) throw new Error(`${row[1]} has two rows in docs/errors.md`);
      rows.set(row[1]!, row[2]!.trim());
    }
  }
  return rows;
}

const catalogued = Object.keys(ERROR_CODES).sort();

test('every code written in src/ is in the catalog', (t) => {
  const unknown = [...codesInSource()].filter(([code]) => !isErrorCode(code));
  t.deepEqual(
    unknown.map(([code, files]) => `${code} (${[...new Set(files)].join(', ')})`),
    [],
    'add each to src/errors/catalog.ts, docs/errors.md and its module union',
  );
});

test('every catalogued code is raised somewhere in src/ (no dead codes)', (t) => {
  const used = codesInSource();
  t.deepEqual(
    catalogued.filter((code) => !used.has(code) && code !== 'CG_ERR_INTERNAL'),
    [],
  );
});

test('docs/errors.md has one row per catalogued code, naming the module that raises it', (t) => {
  const documented = documentedCodes();
  t.deepEqual([...documented.keys()].sort(), catalogued);
  for (const [code, module] of Object.entries(ERROR_CODES)) {
    const raisedBy = (documented.get(code) ?? '').split(',').map((m) => m.trim());
    t.true(raisedBy.includes(module), `${code}: docs say "${documented.get(code)}", catalog says ${module}`);
  }
});

test('errorCodeOf keeps catalogued codes and turns anything else into CG_ERR_INTERNAL', (t) => {
  t.is(errorCodeOf(new RegistryError('CG_ERR_REGISTRY_DENIED', 'x')), 'CG_ERR_REGISTRY_DENIED');
  t.is(errorCodeOf({ code: 'CG_ERR_TIMEOUT' }), 'CG_ERR_TIMEOUT');
  // A code-shaped string the catalog does not list, a system errno, inherited names and non-errors.
  for (const err of [
    { code: 'CG_ERR_MADE_UP' },
    Object.assign(new Error('x'), { code: 'ENOENT' }),
    { code: 'toString' },
    { code: '__proto__' },
    new Error('bug'),
    undefined,
    null,
    'CG_ERR_TIMEOUT',
  ]) {
    t.is(errorCodeOf(err), 'CG_ERR_INTERNAL', String((err as { code?: unknown } | null)?.code ?? err));
  }
});

test('module errors share the base: a code, the name of their class, the message they were given', (t) => {
  const errors: [CriguardError, ErrorCode, string][] = [
    [new AdmissionError('CG_ERR_TIMEOUT', 'no answer'), 'CG_ERR_TIMEOUT', 'AdmissionError'],
    [new RegistryError('CG_ERR_REGISTRY_LIMIT', 'big'), 'CG_ERR_REGISTRY_LIMIT', 'RegistryError'],
    [new VerifyError('CG_ERR_KEY_INVALID', 'bad'), 'CG_ERR_KEY_INVALID', 'VerifyError'],
    [new FileReadError('CG_ERR_FILE_NOT_FOUND', 'gone'), 'CG_ERR_FILE_NOT_FOUND', 'FileReadError'],
  ];
  for (const [err, code, name] of errors) {
    t.true(err instanceof CriguardError);
    t.true(err instanceof Error);
    t.is(err.code, code);
    t.is(err.name, name);
    t.is(errorCode(err), code);
  }
});

test('the fail-closed switch lets only unavailability codes through onUndecided: ALLOW', (t) => {
  const allowing: CompiledRule = {
    kind: 'default',
    key: undefined,
    evaluationMode: 'REQUIRE_ATTESTATION',
    enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
    attestors: [],
    onUndecided: 'ALLOW',
    onUndecidedRegistries: ['registry.example'],
    bindDockerReference: false,
  };
  const allowed = catalogued.filter(
    (code) => decideUndecided(allowing, { code }, 'image', 'registry.example/app').outcome.allowed,
  );
  t.deepEqual(allowed, ['CG_ERR_REGISTRY_UNAVAILABLE', 'CG_ERR_TIMEOUT']);
});
