#!/usr/bin/env bash
# Benchmarks (not part of the test suite): the proxy against a real containerd, and policy evaluation.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tsx bench/proxy.bench.ts
npx tsx bench/enforcement.bench.ts
npx tsx bench/gated-calls.bench.ts
npx tsx bench/packaged-memory.bench.ts
if [ -f bench/policy-eval.bench.ts ]; then npx tsx bench/policy-eval.bench.ts; fi
npx tsx bench/verification-stall.bench.ts
npx tsx bench/keyless-verify.bench.ts
npx tsx bench/audit-read.bench.ts
npx tsx bench/growth.bench.ts
