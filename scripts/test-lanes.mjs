// Which test file runs in which lane (docs/adr/0063-test-lanes.md). Read by the ava configurations and
// checked by test/docs/test-lanes.test.ts: every test/**/*.test.ts is in exactly one lane, and `npm test`
// (ava.config.js) runs all of them.
//
// - unit (`npm run test:unit`): in-process tests; may call a short-lived system utility (mkfifo, mount),
//   never another program under test, a daemon or dist/. Runs precompiled (scripts/build-unit-tests.mjs),
//   in worker threads except UNIT_PROCESS_FILES.
// - integration (`npm run test:integration`): starts another program (docker-registry, gpg, openssl,
//   promtool, systemd-analyze) or the bundled daemon (needs dist/).
// - e2e (`npm run test:e2e`): real containerd, runc and registry; the packaged executable; other tools' builds.

/** Folders (under test/) whose every test is end-to-end. */
export const E2E_DIRS = ['e2e', 'package', 'interop'];

/** Test files (paths from the repository root) that start another program or need dist/. */
export const INTEGRATION_FILES = [
  'test/admission/pgp-admission.test.ts', // gpg
  'test/attestations/gcloud-export.test.ts', // openssl
  'test/attestations/keyless-sources.test.ts', // docker-registry
  'test/attestations/registry-source.test.ts', // docker-registry
  'test/cli/openssl-interop.test.ts', // openssl
  'test/cri/bundled-daemon.test.ts', // dist/criguard.cjs
  'test/deploy/monitoring.test.ts', // promtool
  'test/install/units.test.ts', // systemd-analyze
  'test/registry/platform-manifest.test.ts', // docker-registry
  'test/registry/registry-client.test.ts', // docker-registry
  'test/registry/tls.test.ts', // openssl
  'test/verify/pgp-gpg.test.ts', // gpg, dist/criguard.cjs
];

/**
 * Unit test files that need a process of their own (the rest of the unit lane runs in worker threads):
 * the CRI socket listener sets `process.umask`, which a worker thread may not.
 */
export const UNIT_PROCESS_FILES = [
  'test/cri/hostile-upstream.test.ts',
  'test/cri/proxy-limits.test.ts',
  'test/cri/proxy-socket.test.ts',
  'test/cri/proxy.test.ts',
];

/** ava `files` globs of each lane, for test files as written (TypeScript under test/). */
export const LANE_GLOBS = {
  e2e: E2E_DIRS.map((dir) => `test/${dir}/**/*.test.ts`),
  integration: INTEGRATION_FILES,
  unit: [
    'test/**/*.test.ts',
    ...E2E_DIRS.map((dir) => `!test/${dir}/**`),
    ...INTEGRATION_FILES.map((file) => `!${file}`),
  ],
};

/** A glob over test files as written → the same glob over the compiled tree (.tmp/unit/, .js per .ts). */
const compiled = (glob) => glob.replace(/^(!?)test\//, '$1.tmp/unit/test/').replace(/\.ts$/, '.js');

/** The unit lane over the compiled tree: `threads` runs in worker threads, `process` one process a file. */
export const COMPILED_UNIT_GLOBS = {
  threads: [...LANE_GLOBS.unit, ...UNIT_PROCESS_FILES.map((file) => `!${file}`)].map(compiled),
  process: UNIT_PROCESS_FILES.map(compiled),
};
