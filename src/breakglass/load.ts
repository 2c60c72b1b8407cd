import { parseBreakglassDocument } from './document.js';
import { readBreakglassFile, type ReadBreakglassFileOptions } from './read-file.js';
import type { LoadedBreakglass } from './status.js';

/**
 * Reads (safely, through one descriptor) and parses the breakglass file at `path`. Returns `absent`, a
 * parsed document with its hash, or `invalid` with the problem (and the hash when bytes were read).
 * `previous` lets an unchanged file (same hash) reuse its parsed document. Never throws; fail closed.
 */
export function loadBreakglass(
  path: string,
  options: ReadBreakglassFileOptions = {},
  previous?: LoadedBreakglass,
): LoadedBreakglass {
  const read = readBreakglassFile(path, options);
  if (read.kind === 'absent') return ABSENT;
  if (read.kind === 'unsafe')
    return Object.freeze({ kind: 'invalid', problem: read.problem, fileSha256: undefined });
  if (previous?.kind === 'parsed' && previous.fileSha256 === read.sha256) return previous;
  const parsed = parseBreakglassDocument(read.bytes);
  return parsed.ok
    ? Object.freeze({
        kind: 'parsed',
        document: parsed.document,
        fileSha256: read.sha256,
        writtenAtMs: read.modifiedMs,
      })
    : Object.freeze({ kind: 'invalid', problem: parsed.problem, fileSha256: read.sha256 });
}

const ABSENT: LoadedBreakglass = Object.freeze({ kind: 'absent' });
