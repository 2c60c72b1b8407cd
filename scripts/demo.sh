#!/usr/bin/env bash
# `npm run demo`: sets the machine up (Debian packages, npm dependencies, build), then starts a private
# registry and containerd, makes a signing key and a policy with criguard's CLI, signs one of two images,
# puts criguard in front of containerd and drives pods through criguard's socket, printing every CRI call:
# the signed image runs, the unsigned one is denied (at pull, and at create when pulled behind criguard's
# back), admitted in a dry-run namespace; then the audit log and metrics. Needs root (containerd and runc).
# Options go to scripts/demo.ts (--log-level LEVEL, --show-log, --criguard BUNDLE|BINARY).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "demo: run as root (it starts containerd and runc)" >&2
  exit 1
fi
bash scripts/setup.sh
exec npx tsx scripts/demo.ts "$@"
