// The unit files that need a process of their own (they set process-wide state worker threads refuse,
// e.g. `process.umask`): run by `npm run test:unit` after ava.unit.config.js, one process a file (not
// sharded). docs/adr/0063-test-lanes.md.
import unit from './ava.unit.config.js';
import { COMPILED_UNIT_GLOBS } from './scripts/test-lanes.mjs';

export default { ...unit, files: COMPILED_UNIT_GLOBS.process, workerThreads: false };
