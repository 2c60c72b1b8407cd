import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** 2025-06-01T12:00:00Z: the fixed "now" of the table tests. */
export const NOW = Date.parse('2025-06-01T12:00:00Z');
export const HOUR = 60 * 60 * 1000;
export const D1 = `sha256:${'1'.repeat(64)}`;
export const D2 = `sha256:${'2'.repeat(64)}`;

/** A valid breakglass file as YAML; `extra` lines are appended verbatim (top level) before the end marker. */
export function yamlDoc(
  fields: { reason?: string; expiresAt?: string; scope?: string[] } = {},
  extra: string[] = [],
): string {
  return [
    `reason: ${fields.reason ?? 'INC-1234 registry outage'}`,
    ...(fields.expiresAt === '' ? [] : [`expiresAt: ${fields.expiresAt ?? iso(NOW + 2 * HOUR)}`]),
    'scope:',
    ...(fields.scope ?? ['  all: true']),
    ...extra,
    'end: true',
    '',
  ].join('\n');
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** A root-owned 0700 temporary directory (mkdtemp), removed after the test. */
export async function tempDir(t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'criguard-bg-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a file with an exact mode (no umask). */
export async function writeWithMode(path: string, text: string, mode = 0o600): Promise<void> {
  await writeFile(path, text);
  await chmod(path, mode);
}
