// The fast lane (`npm run test:unit`): every test except those that start real containerd and registries
// (test/e2e), run the packaged executable (test/package) or talk to other tools' builds (test/interop).
import base from './ava.config.js';

export default {
  ...base,
  files: ['test/**/*.test.ts', '!test/e2e/**', '!test/package/**', '!test/interop/**'],
};
