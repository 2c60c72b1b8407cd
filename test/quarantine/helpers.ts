import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';

export const NOW = Date.parse('2026-06-01T12:00:00Z');
export const HOUR = 3_600_000;
export const BAD = `sha256:${'b'.repeat(64)}`;
export const GOOD = `sha256:${'a'.repeat(64)}`;

export const iso = (ms: number) => new Date(ms).toISOString();

/** One entry as YAML lines. */
export function entry(image: string, extra: string[] = []): string[] {
  return [
    `  - image: "${image}"`,
    '    reason: CVE-2026-0001 compromised release',
    '    ticket: INC-42',
    ...extra,
  ];
}

/** A quarantine file: `entries` YAML lines (or none: an empty list), the end marker last. */
export function quarantineYaml(entries: string[] = []): string {
  return [...(entries.length > 0 ? ['entries:', ...entries] : ['entries: []']), 'end: true', ''].join('\n');
}

/** A root-owned directory `<tmp>/etc` (0755) for a quarantine file, removed after the test. */
export async function quarantineDir(t: ExecutionContext): Promise<{ dir: string; path: string }> {
  const root = await mkdtemp(join(tmpdir(), 'criguard-q-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'etc');
  await mkdir(dir);
  await chmod(dir, 0o755);
  return { dir, path: join(dir, 'quarantine.yaml') };
}

/** Writes `text` beside `path` (0600) and renames it over `path`, as the CLI does. */
export async function atomicWrite(path: string, text: string): Promise<void> {
  const temp = `${path}.tmp`;
  await writeFile(temp, text);
  await chmod(temp, 0o600);
  await rename(temp, path);
}

/** Polls until `ready()` holds; fails the test after `limitMs`. Returns the elapsed milliseconds. */
export async function within(t: ExecutionContext, limitMs: number, ready: () => boolean): Promise<number> {
  const start = Date.now();
  while (!ready()) {
    if (Date.now() - start > limitMs) {
      t.fail(`not within ${limitMs} ms`);
      return Number.POSITIVE_INFINITY;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}
