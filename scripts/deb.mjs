// Builds the Debian package criguard_<version>_amd64.deb from the single-file executable (scripts/package.mjs)
// and the units in systemd/, with dpkg-deb only (no debhelper). `npm run package` calls it; alone:
//
//   node scripts/deb.mjs [--binary dist/criguard] [--version V] [--out-dir dist] [--compress xz|gzip|none]
//                        [--level 0-9]   (dpkg-deb's -z; default: dpkg-deb's own for the compressor)
//
// Contents (docs/operations.md, "Debian package"; docs/adr/0037):
//   /usr/bin/criguard                          the executable
//   /usr/lib/systemd/system/<unit>             every top-level unit file of systemd/, ExecStart → /usr/bin
//   /etc/criguard/config.yaml, policy.yaml     conffiles: the defaults of deploy/base/configmap.yaml
//   /usr/share/criguard/kubelet.service.d/…    the kubelet drop-in, inactive until the operator enables it
//   /usr/share/doc/criguard/…                  copyright, the embedded Node.js's notices, changelog,
//                                              README.Debian (how to point the kubelet at criguard)
//   /usr/share/man/man1/criguard.1.gz          the command overview; lintian overrides (with reasons)
// Reproducible: every mtime is SOURCE_DATE_EPOCH (default: the last commit's time), owners root:root, and
// dpkg-deb writes sorted entries; the same inputs give the same bytes.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { pinnedNode } from './node-runtime.mjs';

/** Where the package puts the executable, and the path the repository's units name. */
export const DEB_BINARY = '/usr/bin/criguard';
const UNIT_BINARY = '/usr/local/bin/criguard';
const UNIT_DIR = '/usr/lib/systemd/system';
const DROP_IN_DIR = '/usr/share/criguard/kubelet.service.d';
const MAINTAINER = 'criguard developers <criguard-dev@example.org>';

/** SOURCE_DATE_EPOCH, else the last commit's time, else 0: the one timestamp every packaged file gets. */
export function sourceDateEpoch() {
  if (process.env.SOURCE_DATE_EPOCH) return Number(process.env.SOURCE_DATE_EPOCH);
  try {
    return Number(execFileSync('git', ['log', '-1', '--format=%ct'], { encoding: 'utf8' }).trim());
  } catch {
    return 0;
  }
}

/** The unit files shipped: every regular file directly in systemd/ (drop-in directories excluded). */
export function unitFiles(dir = 'systemd') {
  return readdirSync(dir)
    .filter((name) => /\.(service|socket|timer|path)$/.test(name) && statSync(join(dir, name)).isFile())
    .sort();
}

function maintainerScripts(units) {
  const list = units.map((u) => `'${u}'`).join(' ');
  // Units started in order: sockets before the service they activate.
  const startOrder = [...units].sort(
    (a, b) => Number(!a.endsWith('.socket')) - Number(!b.endsWith('.socket')),
  );
  const startList = startOrder.map((u) => `'${u}'`).join(' ');
  const header =
    '#!/bin/sh\n# Written by scripts/deb.mjs (the steps dh_installsystemd would generate, by hand).\nset -e\n';
  const postinst =
    header +
    `
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
\tfor unit in ${list}; do
\t\t# Removes only a mask left by an earlier removal of this package.
\t\tdeb-systemd-helper unmask "$unit" >/dev/null || true
\t\t# Enabled on first install; an operator's "systemctl disable" survives upgrades.
\t\tif deb-systemd-helper --quiet was-enabled "$unit"; then
\t\t\tdeb-systemd-helper enable "$unit" >/dev/null || true
\t\telse
\t\t\tdeb-systemd-helper update-state "$unit" >/dev/null || true
\t\tfi
\tdone
\t# Start (or restart on upgrade) only on a live systemd host, never for an image or chroot (DPKG_ROOT).
\t# The kubelet is not touched: it keeps its own runtime endpoint until the operator switches it
\t# (/usr/share/doc/criguard/README.Debian).
\tif [ -z "\${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
\t\tsystemctl --system daemon-reload >/dev/null || true
\t\tif [ -n "$2" ]; then action=restart; else action=start; fi
\t\tfor unit in ${startList}; do
\t\t\tdeb-systemd-invoke "$action" "$unit" >/dev/null || true
\t\tdone
\tfi
fi
exit 0
`;
  const prerm =
    header +
    `
if [ "$1" = remove ]; then
\t# Removing criguard while the kubelet still talks to it would leave the node without a container runtime.
\tif [ -e "\${DPKG_ROOT:-}/etc/systemd/system/kubelet.service.d/10-criguard.conf" ] ||
\t\tgrep -qs 'criguard/criguard.sock' "\${DPKG_ROOT:-}/var/lib/kubelet/config.yaml" \\
\t\t\t"\${DPKG_ROOT:-}/var/lib/kubelet/kubeadm-flags.env" "\${DPKG_ROOT:-}/etc/default/kubelet"; then
\t\techo "criguard: the kubelet still uses criguard; point it back at containerd first" >&2
\t\techo "criguard: (/usr/share/doc/criguard/README.Debian, \\"Switching the kubelet back\\")" >&2
\t\texit 1
\tfi
\tif [ -z "\${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
\t\tdeb-systemd-invoke stop ${[...startOrder]
      .reverse()
      .map((u) => `'${u}'`)
      .join(' ')} >/dev/null || true
\tfi
fi
exit 0
`;
  const postrm =
    header +
    `
if [ "$1" = remove ] && [ -z "\${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
\tsystemctl --system daemon-reload >/dev/null || true
fi
if command -v deb-systemd-helper >/dev/null; then
\tfor unit in ${list}; do
\t\tif [ "$1" = remove ]; then
\t\t\tdeb-systemd-helper mask "$unit" >/dev/null || true
\t\tfi
\t\tif [ "$1" = purge ]; then
\t\t\tdeb-systemd-helper purge "$unit" >/dev/null || true
\t\t\tdeb-systemd-helper unmask "$unit" >/dev/null || true
\t\tfi
\tdone
fi
if [ "$1" = purge ]; then
\t# Configuration (policy, keys, breakglass), verdict cache and install state, audit log, runtime directory.
\trm -rf "\${DPKG_ROOT:-}/etc/criguard" "\${DPKG_ROOT:-}/var/lib/criguard" "\${DPKG_ROOT:-}/var/log/criguard" \\
\t\t"\${DPKG_ROOT:-}/run/criguard"
fi
exit 0
`;
  return { postinst, prerm, postrm };
}

function readmeDebian(units) {
  return `criguard for Debian
===================

The package installs criguard (${DEB_BINARY}), its systemd units (${units.join(', ')}) enabled and
started, and the default configuration in /etc/criguard (config.yaml; policy.yaml admits every image and
audits each decision). The kubelet is NOT changed: it keeps talking to containerd until you switch it.

Switching the kubelet to criguard
---------------------------------
1. Check criguard answers: criguard probe
2. Order the kubelet after criguard:
     install -D -m 0644 ${DROP_IN_DIR}/10-criguard.conf \\
       /etc/systemd/system/kubelet.service.d/10-criguard.conf
3. Point the kubelet's containerRuntimeEndpoint and imageServiceEndpoint at
   unix:///run/criguard/criguard.sock (in /var/lib/kubelet/config.yaml, or the matching
   --container-runtime-endpoint / --image-service-endpoint flags). Keep a copy of the old values.
4. systemctl daemon-reload && systemctl restart kubelet

Switching the kubelet back (required before removing the package)
-----------------------------------------------------------------
1. Restore the kubelet's original endpoints (usually unix:///run/containerd/containerd.sock).
2. rm /etc/systemd/system/kubelet.service.d/10-criguard.conf
3. systemctl daemon-reload && systemctl restart kubelet

The package refuses to be removed while the drop-in exists or the kubelet configuration names criguard's
socket. "apt purge criguard" also deletes /etc/criguard, /var/lib/criguard and /var/log/criguard.

Do not mix this package with "criguard install" (the DaemonSet installer), which installs its own copy in
/usr/local/bin and its own unit in /etc/systemd/system (that unit would take precedence).
`;
}

/** Lintian findings that are true of every criguard package, each with the reason it stays. */
const LINTIAN_OVERRIDES = `# The executable is the official Node.js build with criguard's bundle injected (docs/adr/0031,
# docs/adr/0036): it links zlib (and other libraries) statically and is not built as PIE; rebuilding
# Node.js is out of scope.
criguard: embedded-library zlib [usr/bin/criguard]
criguard: hardening-no-pie [usr/bin/criguard]
# Policy, keys and breakglass files are root-only by design (docs/operations.md).
criguard: non-standard-dir-perm 0700 != 0755 [etc/criguard/]
criguard: non-standard-file-perm 0600 != 0644 [etc/criguard/policy.yaml]
`;

/** A short manual page: the command overview of \`criguard --help\` (details: docs/cli.md upstream). */
function manPage(binary, version, date) {
  const help = execFileSync(binary, ['--help'], { encoding: 'utf8', env: {} });
  const body = help
    .trimEnd()
    .split('\n')
    .map((l) => l.replaceAll('\\', '\\e').replace(/^([.'])/, '\\&$1'))
    .join('\n');
  return `.TH CRIGUARD 1 "${date}" "criguard ${version}" "User Commands"
.SH NAME
criguard \\- node-level container image trust enforcement for Kubernetes (CRI proxy)
.SH SYNOPSIS
.B criguard
.I command
.RI [ options ]
.SH DESCRIPTION
.nf
${body}
.fi
.SH FILES
/etc/criguard/config.yaml, /etc/criguard/policy.yaml, /var/log/criguard/audit.log
.SH SEE ALSO
/usr/share/doc/criguard/README.Debian
`;
}

function copyright(year) {
  return `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: criguard

Files: *
Copyright: ${year} criguard developers
License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0 can be found in
 /usr/share/common-licenses/Apache-2.0.

Files: usr/bin/criguard
Copyright: ${year} criguard developers; Node.js contributors and the authors of its bundled components
License: Apache-2.0 and Node.js
 The executable embeds the Node.js runtime (official linux-x64 build) and criguard's bundled npm
 dependencies.

License: Node.js
 MIT-style; the full Node.js license, with the licenses of the components it bundles, is in
 /usr/share/doc/criguard/nodejs-notices.txt.
`;
}

/** Builds the package; returns its path. */
export function buildDeb({ binary, version, outDir, compress = 'xz', level }) {
  const epoch = sourceDateEpoch();
  const units = unitFiles();
  const root = resolve(outDir, '.deb-root');
  rmSync(root, { recursive: true, force: true });
  const put = (path, data, mode = 0o644) => {
    const full = join(root, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, data);
    chmodSync(full, mode);
  };

  mkdirSync(join(root, dirname(DEB_BINARY)), { recursive: true });
  copyFileSync(binary, join(root, DEB_BINARY));
  chmodSync(join(root, DEB_BINARY), 0o755);
  for (const unit of units) {
    put(
      `${UNIT_DIR}/${unit}`,
      readFileSync(join('systemd', unit), 'utf8').replaceAll(UNIT_BINARY, DEB_BINARY),
    );
  }
  for (const name of readdirSync('systemd/kubelet.service.d').sort()) {
    put(`${DROP_IN_DIR}/${name}`, readFileSync(join('systemd/kubelet.service.d', name)));
  }
  const defaults = parseYaml(readFileSync('deploy/base/configmap.yaml', 'utf8')).data;
  put('etc/criguard/config.yaml', defaults['config.yaml'], 0o644);
  put('etc/criguard/policy.yaml', defaults['policy.yaml'], 0o600);
  chmodSync(join(root, 'etc/criguard'), 0o700);
  const doc = 'usr/share/doc/criguard';
  put(`${doc}/copyright`, copyright(new Date(epoch * 1000).getUTCFullYear()));
  put(`${doc}/nodejs-notices.txt`, readFileSync(pinnedNode().license));
  put(`${doc}/README.Debian`, readmeDebian(units));
  put('usr/share/lintian/overrides/criguard', LINTIAN_OVERRIDES);
  const date = new Date(epoch * 1000).toUTCString().replace('GMT', '+0000');
  put(
    'usr/share/man/man1/criguard.1.gz',
    gzipSync(manPage(binary, version, new Date(epoch * 1000).toISOString().slice(0, 10)), { level: 9 }),
  );
  // A native package (the version has no Debian revision): the changelog is changelog.gz.
  put(
    `${doc}/changelog.gz`,
    gzipSync(
      `criguard (${version}) unstable; urgency=medium\n\n  * Release ${version}; see CHANGELOG.md in the source.\n\n -- ${MAINTAINER}  ${date}\n`,
      { level: 9 },
    ),
  );

  let installedBytes = 0;
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      const st = statSync(full);
      if (st.isDirectory()) walk(full);
      else installedBytes += st.size;
    }
  };
  walk(root);
  // md5sums covers the installed files only (before DEBIAN/ exists).
  const md5sums = [];
  const sums = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) sums(full);
      else
        md5sums.push(
          `${createHash('md5').update(readFileSync(full)).digest('hex')}  ${full.slice(root.length + 1)}`,
        );
    }
  };
  sums(root);
  const { postinst, prerm, postrm } = maintainerScripts(units);
  put('DEBIAN/postinst', postinst, 0o755);
  put('DEBIAN/prerm', prerm, 0o755);
  put('DEBIAN/postrm', postrm, 0o755);
  put('DEBIAN/md5sums', `${md5sums.join('\n')}\n`);
  put('DEBIAN/conffiles', '/etc/criguard/config.yaml\n/etc/criguard/policy.yaml\n');
  put(
    'DEBIAN/control',
    `Package: criguard
Version: ${version}
Architecture: amd64
Maintainer: ${MAINTAINER}
Installed-Size: ${Math.ceil(installedBytes / 1024)}
Depends: libc6 (>= 2.28), libgcc-s1 | libgcc1, libstdc++6 (>= 5), init-system-helpers (>= 1.52)
Suggests: containerd
Section: admin
Priority: optional
Description: node-level container image trust enforcement for Kubernetes
 criguard is a CRI proxy between the kubelet and containerd: every call
 passes through untouched, except that images are pulled and containers
 created only if the image's digest carries the signatures the node's
 policy requires (Binary Authorization format).
 .
 The package installs the daemon and its systemd units; the operator
 switches the kubelet to it (see README.Debian).
`,
  );
  // dpkg-deb takes each file's owner and mtime (clamped to SOURCE_DATE_EPOCH): set them explicitly.
  const stamp = (dir) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) stamp(full);
      utimesSync(full, epoch, epoch);
    }
  };
  stamp(root);
  utimesSync(root, epoch, epoch);
  const out = resolve(outDir, `criguard_${version}_amd64.deb`);
  const z = level === undefined ? [] : [`-z${level}`];
  execFileSync('dpkg-deb', ['--root-owner-group', `-Z${compress}`, ...z, '--build', root, out], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) },
  });
  rmSync(root, { recursive: true, force: true });
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      binary: { type: 'string', default: 'dist/criguard' },
      version: { type: 'string' },
      'out-dir': { type: 'string', default: 'dist' },
      compress: { type: 'string', default: 'xz' },
      level: { type: 'string' },
    },
  });
  const version = values.version ?? JSON.parse(readFileSync('package.json', 'utf8')).version;
  const started = Date.now();
  const out = buildDeb({
    binary: values.binary,
    version,
    outDir: values['out-dir'],
    compress: values.compress,
    level: values.level,
  });
  console.log(
    `deb: ${basename(out)} (${(statSync(out).size / 2 ** 20).toFixed(1)} MiB) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}
