import test from 'ava';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = new URL('../../scripts/check-links.mjs', import.meta.url);

/** A throw-away repository with the link checker and the given files; returns its exit code and output. */
async function checkTree(files: Record<string, string>): Promise<{ code: number; output: string }> {
  const root = await mkdtemp(join(tmpdir(), 'check-links-'));
  try {
    await mkdir(join(root, 'scripts'));
    await copyFile(SCRIPT, join(root, 'scripts', 'check-links.mjs'));
    for (const [path, text] of Object.entries(files)) {
      await mkdir(join(root, path, '..'), { recursive: true });
      await writeFile(join(root, path), text);
    }
    try {
      const { stdout, stderr } = await run(process.execPath, [join(root, 'scripts', 'check-links.mjs')]);
      return { code: 0, output: stdout + stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, output: e.stdout + e.stderr };
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const ADR = { 'docs/adr/0001-first.md': '# 0001. First\n' };

test('links, anchors, docs/ paths and ADR numbers that resolve pass', async (t) => {
  const result = await checkTree({
    ...ADR,
    'README.md': '[cli](docs/cli.md#exit-codes) [adr](docs/adr/0001-first.md) see ADR 0001\n',
    'docs/cli.md': '# CLI\n\n## Exit codes\n\n[back](../README.md) [self](#cli) `[code](nope.md)`\n',
    'src/a.ts': '// see docs/adr/0001-first.md\n',
  });
  t.is(result.code, 0, result.output);
});

test('a missing file, a missing heading, a missing docs/ path and a missing ADR each fail', async (t) => {
  const result = await checkTree({
    ...ADR,
    'README.md': '[gone](docs/gone.md) [cli](docs/cli.md#no-such-heading)\n',
    'docs/cli.md': '# CLI\n',
    'src/a.ts': '// see docs/adr/0002-missing.md\n',
    'systemd/x.service': '# Documentation: ADR 0009\n',
  });
  t.is(result.code, 1);
  t.regex(result.output, /README\.md:1: link to missing file docs\/gone\.md/);
  t.regex(result.output, /README\.md:1: link to missing heading docs\/cli\.md#no-such-heading/);
  t.regex(result.output, /src\/a\.ts:1: mentions missing file docs\/adr\/0002-missing\.md/);
  t.regex(result.output, /systemd\/x\.service:1: mentions missing ADR 0009/);
});
