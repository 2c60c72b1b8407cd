import { readBreakglassFile } from '../breakglass/read-file.js';
import { MAX_QUARANTINE_BYTES } from './document.js';
import { quarantineProblem, type QuarantineProblem, type QuarantineProblemCode } from './problems.js';

/** What reading the quarantine path found: nothing, an unsafe or unreadable file, or its bytes. */
export type QuarantineFileRead =
  | { readonly kind: 'absent' }
  | { readonly kind: 'unsafe'; readonly problem: QuarantineProblem }
  | { readonly kind: 'read'; readonly bytes: Uint8Array; readonly sha256: string };

/**
 * Reads the quarantine file with exactly the breakglass file's checks (docs/breakglass.md, ADR 0050):
 * opened once with `O_NOFOLLOW | O_NONBLOCK`; on that descriptor a regular file with one link, owned by
 * `expectedUid` (root), not group- or world-writable; its directory and the directories above it safe;
 * at most 256 KiB, read from the same descriptor. Problems carry `CG_ERR_QUARANTINE_*` codes. Never throws.
 */
export function readQuarantineFile(path: string, options: { expectedUid?: number } = {}): QuarantineFileRead {
  const read = readBreakglassFile(path, {
    expectedUid: options.expectedUid ?? 0,
    maxBytes: MAX_QUARANTINE_BYTES,
  });
  if (read.kind === 'absent') return read;
  if (read.kind === 'read') return { kind: 'read', bytes: read.bytes, sha256: read.sha256 };
  const code = read.problem.code.replace('CG_ERR_BREAKGLASS_', 'CG_ERR_QUARANTINE_') as QuarantineProblemCode;
  return { kind: 'unsafe', problem: quarantineProblem(code, read.problem.message) };
}
