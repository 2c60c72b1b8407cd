export { DEFAULT_QUARANTINE_PATH } from './defaults.js';
export {
  compileQuarantineImage,
  parseQuarantineDocument,
  MAX_QUARANTINE_BYTES,
  MAX_QUARANTINE_ENTRIES,
} from './document.js';
export type {
  QuarantineChange,
  QuarantineDocument,
  QuarantineEntry,
  QuarantineFileContent,
} from './document.js';
export { createQuarantineMatcher } from './match.js';
export type { QuarantineMatch, QuarantineMatcher, QuarantineSubject } from './match.js';
export { createQuarantineMonitor } from './monitor.js';
export type {
  QuarantineHit,
  QuarantineListChange,
  QuarantineMonitor,
  QuarantineMonitorOptions,
} from './monitor.js';
export type { QuarantineProblem, QuarantineProblemCode } from './problems.js';
export { readQuarantineFile } from './read-file.js';
export { entryStatuses, loadQuarantine } from './state.js';
export type { LoadedQuarantine, QuarantineEntryStatus, QuarantineStatus } from './state.js';
export { quarantineFileText, writeQuarantineFileAtomically } from './write-file.js';
