import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { FileReadError, readRegularFileSync } from '../files/read-regular-file.js';
import { join } from 'node:path';
import type { CachedVerdict } from './verdict-cache.js';

const FILE = 'verdicts.json';
const FORMAT = 'criguard-verdicts/v1';

interface StoredFile {
  format: typeof FORMAT;
  sha256: string;
  entries: CachedVerdict[];
}

/**
 * Persists verdict cache entries under the state directory (0700 dir, 0600 file, atomic rename) with a
 * sha256 over the entries. `load` returns [] for a missing, corrupt, or tampered file (fail closed: the
 * verdicts are simply recomputed).
 */
export function createVerdictStore(stateDir: string) {
  const path = join(stateDir, FILE);
  return {
    path,
    load(): { entries: CachedVerdict[]; problem: string | undefined } {
      let text: string;
      try {
        text = readRegularFileSync(path, { maxBytes: 64 * 1024 * 1024, noFollow: true }).bytes.toString(
          'utf8',
        );
      } catch (err) {
        if (err instanceof FileReadError && err.code === 'ENOENT') return { entries: [], problem: undefined };
        return { entries: [], problem: (err as Error).message };
      }
      try {
        const file = JSON.parse(text) as StoredFile;
        if (file.format !== FORMAT || !Array.isArray(file.entries))
          return { entries: [], problem: 'unknown format' };
        if (checksum(file.entries) !== file.sha256) return { entries: [], problem: 'checksum mismatch' };
        return { entries: file.entries, problem: undefined };
      } catch {
        return { entries: [], problem: 'not valid JSON' };
      }
    },
    save(entries: readonly CachedVerdict[]): void {
      mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      const file: StoredFile = { format: FORMAT, sha256: checksum(entries), entries: [...entries] };
      const temp = `${path}.${process.pid}.tmp`;
      writeFileSync(temp, JSON.stringify(file), { mode: 0o600 });
      renameSync(temp, path);
    },
  };
}

function checksum(entries: readonly CachedVerdict[]): string {
  return createHash('sha256').update(JSON.stringify(entries)).digest('hex');
}
