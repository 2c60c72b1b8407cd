import { stringify } from 'yaml';
import { writeBreakglassFileAtomically } from '../breakglass/write-file.js';
import type { QuarantineFileContent } from './document.js';

/** The text of a quarantine file, with a header comment and the end marker last. */
export function quarantineFileText(content: Omit<QuarantineFileContent, 'end'>): string {
  const header =
    '# criguard quarantine list: images this node refuses whatever the policy says (docs/quarantine.md).\n' +
    '# Written by `criguard quarantine add|remove`. Hand edits: keep `end: true` last and write atomically.\n';
  // The end marker last: a half-written file never parses (and never drops an entry silently).
  return `${header}${stringify({ ...content, end: true })}`;
}

/**
 * Writes the quarantine file atomically (temporary file in the same directory, fsync, rename; root, 0600;
 * directory 0700 if created), exactly as the breakglass file is written. Throws the fs error.
 */
export function writeQuarantineFileAtomically(path: string, text: string): void {
  writeBreakglassFileAtomically(path, text);
}
