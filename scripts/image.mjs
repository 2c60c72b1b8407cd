// Builds the installer image (deploy/base/daemonset.yaml) without Docker: an OCI image layout written
// directly, reproducibly (same inputs, same digest), optionally pushed with skopeo.
//
//   node scripts/image.mjs [--binary dist/criguard] [--out dist/image] [--tag VERSION]
//                          [--push REGISTRY/REPOSITORY[:TAG]] [--dest-tls-verify=false] [--update-lock]
//
// Two layers (docs/adr/0038):
//   1. Debian packages pinned by name, version and sha256 in deploy/image/debian-packages.lock: the C and
//      C++ runtime the executable links against (libc6, libgcc-s1, libstdc++6) and busybox-static for
//      /bin/sh and nsenter (the installer enters the host's PID 1 namespaces with it). Fetched with
//      `apt-get download`, unpacked with `dpkg-deb -x`; documentation, manuals and locales left out.
//   2. The single-file executable at /usr/local/bin/criguard (what the DaemonSet's command runs).
// Every tar entry has mtime SOURCE_DATE_EPOCH (default: the last commit's time), owner 0:0, sorted names;
// layers are gzip level 6 with an empty gzip header; the config's dates are the same epoch. The manifest
// digest is printed and written to <out>.digest. --update-lock pins apt's current candidates instead.
import { execFileSync } from 'node:child_process';
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { sourceDateEpoch } from './deb.mjs';

export const LOCK_FILE = 'deploy/image/debian-packages.lock';
/** The Debian packages of the base layer (their Depends are listed here explicitly, nothing implicit). */
const PACKAGES = ['libc6', 'libgcc-s1', 'libstdc++6', 'gcc-12-base', 'busybox-static'];
/** Paths left out of the base layer: documentation, manuals, translations, lintian data. */
const PRUNE = ['usr/share/doc', 'usr/share/man', 'usr/share/info', 'usr/share/locale', 'usr/share/lintian'];
/** busybox applets linked in /bin: the shell and the installer's nsenter. */
const APPLETS = ['sh', 'nsenter'];
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

function fail(code, message) {
  throw new Error(`image: ${code}: ${message}`);
}

/** The lock: one `name version sha256` line per package (comments with #). */
export function readLock(path = LOCK_FILE) {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => {
      const [name, version, digest] = l.trim().split(/\s+/);
      return { name, version, sha256: digest };
    });
}

/** Downloads the locked .debs into `dir` (the apt cache makes repeats cheap) and checks each sha256. */
function fetchPackages(lock, dir) {
  mkdirSync(dir, { recursive: true });
  execFileSync('apt-get', ['download', '-q', ...lock.map((p) => `${p.name}=${p.version}`)], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const files = readdirSync(dir).filter((f) => f.endsWith('.deb'));
  return lock.map((p) => {
    const file = files.find((f) => f.startsWith(`${p.name}_`));
    if (!file) fail('CG_ERR_IMAGE_PACKAGE', `apt-get download gave no ${p.name}`);
    const actual = sha256(readFileSync(join(dir, file)));
    if (actual !== p.sha256) {
      fail('CG_ERR_IMAGE_PACKAGE', `${p.name} ${p.version} is sha256 ${actual}, locked ${p.sha256}`);
    }
    return join(dir, file);
  });
}

function updateLock(dir) {
  mkdirSync(dir, { recursive: true });
  execFileSync('apt-get', ['download', '-q', ...PACKAGES], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const lines = readdirSync(dir)
    .filter((f) => f.endsWith('.deb'))
    .sort()
    .map((f) => {
      const info = execFileSync('dpkg-deb', ['-f', join(dir, f), 'Package', 'Version'], { encoding: 'utf8' });
      const name = /^Package: (.*)$/m.exec(info)[1];
      const version = /^Version: (.*)$/m.exec(info)[1];
      return `${name} ${version} ${sha256(readFileSync(join(dir, f)))}`;
    });
  writeFileSync(
    LOCK_FILE,
    '# Debian packages of the installer image base layer: name version sha256 (node scripts/image.mjs --update-lock)\n' +
      `${lines.join('\n')}\n`,
  );
}

/** A reproducible tar of `dir` (GNU tar: sorted names, fixed mtime, owner 0:0, no atime/ctime). */
function tarDir(dir, epoch) {
  const names = readdirSync(dir).sort();
  return execFileSync(
    'tar',
    [
      '--sort=name',
      `--mtime=@${epoch}`,
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--format=posix',
      '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
      '-C',
      dir,
      '-cf',
      '-',
      ...names,
    ],
    { maxBuffer: 1 << 30 },
  );
}

/** Adds a blob to the layout; returns its descriptor. */
function putBlob(out, mediaType, bytes) {
  const digest = sha256(bytes);
  const dir = join(out, 'blobs', 'sha256');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, digest), bytes);
  return { mediaType, digest: `sha256:${digest}`, size: bytes.length };
}

function layer(out, tar) {
  // gzip with mtime 0 and no name in its header (Node writes neither): the same tar gives the same bytes.
  const gz = gzipSync(tar, { level: 6 });
  return {
    descriptor: putBlob(out, 'application/vnd.oci.image.layer.v1.tar+gzip', gz),
    diffId: `sha256:${sha256(tar)}`,
  };
}

/** Builds the layout in `out`; returns the manifest descriptor. */
export function buildImage({ binary, out, tag }) {
  const epoch = sourceDateEpoch();
  const created = new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');
  const work = resolve(`${out}.work`);
  rmSync(out, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  try {
    const lock = readLock();
    const debs = fetchPackages(lock, join(work, 'debs'));
    const base = join(work, 'base');
    mkdirSync(base);
    for (const deb of debs) execFileSync('dpkg-deb', ['-x', deb, base]);
    for (const p of PRUNE) rmSync(join(base, p), { recursive: true, force: true });
    for (const applet of APPLETS) {
      if (!existsSync(join(base, 'bin', applet))) symlinkSync('busybox', join(base, 'bin', applet));
    }
    mkdirSync(join(base, 'tmp'), { mode: 0o1777 });
    chmodSync(join(base, 'tmp'), 0o1777);
    const app = join(work, 'app');
    mkdirSync(join(app, 'usr/local/bin'), { recursive: true });
    copyFileSync(binary, join(app, 'usr/local/bin/criguard'));
    chmodSync(join(app, 'usr/local/bin/criguard'), 0o755);

    const layers = [layer(out, tarDir(base, epoch)), layer(out, tarDir(app, epoch))];
    const version = JSON.parse(readFileSync('package.json', 'utf8')).version;
    let revision = '';
    try {
      revision = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    } catch {
      /* not a git checkout: no revision label */
    }
    const labels = {
      'org.opencontainers.image.title': 'criguard installer',
      'org.opencontainers.image.version': version,
      'org.opencontainers.image.licenses': 'Apache-2.0',
      'io.criguard.debian-packages': lock.map((p) => `${p.name}=${p.version}`).join(' '),
      ...(revision ? { 'org.opencontainers.image.revision': revision } : {}),
    };
    const config = {
      created,
      architecture: 'amd64',
      os: 'linux',
      config: { Env: [PATH_ENV], Entrypoint: ['/usr/local/bin/criguard'], Labels: labels },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: [
        { created, created_by: `debian packages: ${labels['io.criguard.debian-packages']}` },
        { created, created_by: 'criguard single-file executable (npm run package)' },
      ],
    };
    const configDesc = putBlob(
      out,
      'application/vnd.oci.image.config.v1+json',
      Buffer.from(JSON.stringify(config)),
    );
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: configDesc,
      layers: layers.map((l) => l.descriptor),
      annotations: { 'org.opencontainers.image.created': created },
    };
    const manifestDesc = putBlob(
      out,
      'application/vnd.oci.image.manifest.v1+json',
      Buffer.from(JSON.stringify(manifest)),
    );
    writeFileSync(join(out, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(
      join(out, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { ...manifestDesc, annotations: { 'org.opencontainers.image.ref.name': tag ?? version } },
        ],
      }),
    );
    writeFileSync(`${out}.digest`, `${manifestDesc.digest}\n`);
    return manifestDesc;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Pushes the layout's image to `dest` (`REGISTRY/REPOSITORY[:TAG]`) unchanged (same digest). */
export function pushImage({ out, tag, dest, tlsVerify = true }) {
  execFileSync(
    'skopeo',
    [
      'copy',
      '--quiet',
      '--preserve-digests',
      `--dest-tls-verify=${tlsVerify}`,
      `oci:${out}:${tag}`,
      `docker://${dest}`,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      binary: { type: 'string', default: 'dist/criguard' },
      out: { type: 'string', default: 'dist/image' },
      tag: { type: 'string' },
      push: { type: 'string' },
      'dest-tls-verify': { type: 'string', default: 'true' },
      'update-lock': { type: 'boolean', default: false },
    },
  });
  if (values['update-lock']) {
    const dir = resolve('dist/.image-lock');
    try {
      updateLock(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    console.log(`image: ${LOCK_FILE} updated`);
  } else {
    const tag = values.tag ?? JSON.parse(readFileSync('package.json', 'utf8')).version;
    const desc = buildImage({ binary: values.binary, out: values.out, tag });
    console.log(`image: ${values.out} ${desc.digest} (manifest ${desc.size} bytes)`);
    if (values.push) {
      pushImage({
        out: values.out,
        tag,
        dest: values.push,
        tlsVerify: values['dest-tls-verify'] !== 'false',
      });
      console.log(`image: pushed ${values.push}@${desc.digest}`);
    }
  }
}
