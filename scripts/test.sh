#!/usr/bin/env bash
# The whole test suite: unit, integration and end-to-end (real containerd, runc and registry).
# Does its own set-up. Ends with "N passed, N failed[, N skipped]".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
set +e
npx ava --tap "$@" | node scripts/tap-summary.mjs
status=${PIPESTATUS[1]}
exit "$status"
