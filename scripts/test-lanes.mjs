// Which test file runs in which lane (docs/adr/0063-test-lanes.md). Read by the ava configurations and
// checked by test/docs/test-lanes.test.ts: every test/**/*.test.ts is in exactly one lane, and `npm test`
// (ava.config.js) runs all of them.
//
// - unit (`npm run test:unit`): in-process tests; may call a short-lived system utility (mkfifo, mount),
//   never another program under test, a daemon or dist/. Runs precompiled (scripts/build-unit-tests.mjs).
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

/** The unit lane's globs over the compiled tree (.tmp/unit/, one .js per .ts). */
export const COMPILED_UNIT_GLOBS = LANE_GLOBS.unit.map((glob) =>
  glob.replace(/^(!?)test\//, '$1.tmp/unit/test/').replace(/\.ts$/, '.js'),
);
