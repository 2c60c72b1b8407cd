// The integration lane (`npm run test:integration`, docs/adr/0063-test-lanes.md): tests that start
// another program (registry, gpg, openssl, promtool, systemd-analyze) or the bundled daemon (dist/).
import base from './ava.config.js';
import { LANE_GLOBS } from './scripts/test-lanes.mjs';

export default { ...base, files: LANE_GLOBS.integration };
