#!/usr/bin/env bash
# Installs what criguard's demo and tests need on a Debian machine (as root): Debian packages for the real
# containerd, runc, the OCI registry and the test image contents; npm dependencies; the bundled build.
# Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in containerd:containerd runc:runc docker-registry:docker-registry skopeo:skopeo \
  openssl:openssl systemd-analyze:systemd tar:tar dpkg-deb:dpkg lintian:lintian gpg:gnupg gpgconf:gpgconf \
  htpasswd:apache2-utils promtool:prometheus; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if ! dpkg -s busybox-static >/dev/null 2>&1; then need+=(busybox-static); fi
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages (${need[*]}); run as root or install them" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

node scripts/build.mjs
