#!/usr/bin/env bash
# `npm run demo`: sets the machine up (Debian packages, npm dependencies, build), then starts a private
# registry and containerd, puts criguard in front of containerd and drives one pod through criguard's
# socket, printing every CRI call. Needs root (containerd and runc). Options go to scripts/demo.ts
# (--log-level LEVEL, --show-log, --criguard BUNDLE).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "demo: run as root (it starts containerd and runc)" >&2
  exit 1
fi
bash scripts/setup.sh
exec npx tsx scripts/demo.ts "$@"
