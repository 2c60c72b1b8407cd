#!/usr/bin/env bash
# The end-to-end tests again, with the daemon and CLI being the shipped single-file executable (Node LTS from
# scripts/node-runtime.mjs) instead of dist/criguard.cjs under the Node running the tests: `npm run
# test:packaged`. Ends with "N passed, N failed" like `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
node scripts/package.mjs --no-deb
export CRIGUARD_BINARY="$PWD/dist/criguard" CRIGUARD_SEA_BINARY="$PWD/dist/criguard"
set +e
npx ava --tap test/e2e/ test/package/ "$@" | node scripts/tap-summary.mjs
status=${PIPESTATUS[1]}
exit "$status"
