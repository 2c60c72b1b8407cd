// The end-to-end lane (`npm run test:e2e`, docs/adr/0063-test-lanes.md): real containerd, runc and
// registry, the packaged executable, other tools' builds. Needs `bash scripts/setup.sh`.
import base from './ava.config.js';
import { LANE_GLOBS } from './scripts/test-lanes.mjs';

export default { ...base, files: LANE_GLOBS.e2e };
