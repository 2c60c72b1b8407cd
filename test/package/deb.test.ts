/**
 * The Debian package (scripts/deb.mjs) installed, upgraded, removed and purged with the real dpkg into a
 * temporary root (`dpkg --root` with its own database; maintainer scripts run with DPKG_ROOT, as for an
 * image build), never touching this machine's own / and never starting a service. Each step's tree is
 * compared with what README.Debian and docs/operations.md promise; lintian runs on the package.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  copyFileSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packagedBinary } from '../helpers/sea.js';

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'cgdeb-'));
const root = join(work, 'root');
const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
const nextVersion = `${version}+upgrade.1`;
/** Packages this one depends on, copied from this machine's dpkg database into the temporary one. */
const DEPENDENCIES = ['libc6', 'libgcc-s1', 'libstdc++6', 'init-system-helpers'];
let debs: { first: string; second: string };
/** lintian's output on the first package; a run with findings exits non-zero and is kept as well. */
let lintian: Promise<{ stdout: string; stderr: string }>;

/** Path → "dir 755", "file 644 <sha256>" or "link -> target", for every entry under root except dpkg's own. */
function tree(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      if (path === 'var/lib/dpkg') continue;
      const st = lstatSync(join(root, path));
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out.set(path, `link -> ${readlinkSync(join(root, path))}`);
      else if (st.isDirectory()) {
        out.set(path, `dir ${mode}`);
        walk(path);
      } else {
        const sha = createHash('sha256')
          .update(readFileSync(join(root, path)))
          .digest('hex');
        out.set(path, `file ${mode} ${sha.slice(0, 16)}`);
      }
    }
  };
  walk('');
  return out;
}

async function dpkg(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run('dpkg', [`--root=${root}`, '--force-script-chrootless', '--log=/dev/null', ...args], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    maxBuffer: 1 << 24,
  }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );
}

async function status(): Promise<string> {
  const r = await run('dpkg-query', [
    `--admindir=${root}/var/lib/dpkg`,
    '-W',
    '-f=${Status} ${Version}',
    'criguard',
  ]).catch((e: { stdout: string }) => ({ stdout: e.stdout }));
  return r.stdout.trim();
}

let pristine: Map<string, string>;

test.before(async () => {
  const binary = (await packagedBinary()).path;
  // What every Debian host already has, for the comparison after purge: the systemd directories.
  for (const dir of [
    'var/lib/dpkg/info',
    'var/lib/dpkg/updates',
    'var/lib/dpkg/triggers',
    'etc/systemd/system',
    'var/lib/systemd',
    'var/log',
  ]) {
    mkdirSync(join(root, dir), { recursive: true });
  }
  const { stdout } = await run('dpkg-query', ['-s', ...DEPENDENCIES]);
  writeFileSync(join(root, 'var/lib/dpkg/status'), `${stdout.trimEnd()}\n`);
  for (const m of stdout.matchAll(/^Package: (\S+)\n(?:.*\n)*?Architecture: (\S+)$/gm)) {
    writeFileSync(
      join(root, 'var/lib/dpkg/info', m[2] === 'all' ? `${m[1]}.list` : `${m[1]}:${m[2]}.list`),
      '',
    );
  }
  writeFileSync(join(root, 'var/lib/dpkg/available'), '');
  pristine = tree();
  // gzip -1 for speed here; `npm run package` writes xz. The contents are the same.
  const build = async (v: string, dir: string) => {
    const { stdout: out } = await run(
      process.execPath,
      [
        'scripts/deb.mjs',
        '--binary',
        binary,
        '--version',
        v,
        '--out-dir',
        dir,
        '--compress',
        'gzip',
        '--level',
        '1',
      ],
      { maxBuffer: 1 << 24 },
    );
    return join(dir, /deb: (\S+)/.exec(out)![1]!);
  };
  const [first, second] = await Promise.all([
    build(version, join(work, 'v1')),
    build(nextVersion, join(work, 'v2')),
  ]);
  debs = { first, second };
  // Runs while the dpkg tests do (it takes about a minute); setup.sh installs it.
  lintian = run('lintian', ['--tag-display-limit', '0', first], { maxBuffer: 1 << 24 }).catch(
    (e: { stdout?: string; stderr?: string; message: string }) => ({
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? e.message,
    }),
  );
});

test.after.always(() => {
  rmSync(work, { recursive: true, force: true });
});

test.serial(
  'install: binary, units enabled, default config as conffiles, kubelet untouched, nothing started',
  async (t) => {
    const before = tree();
    const r = await dpkg('-i', debs.first);
    t.is(r.code, 0, r.stderr);
    t.is(await status(), `install ok installed ${version}`);
    const after = tree();
    const added = [...after.keys()].filter((p) => !before.has(p));
    t.deepEqual(
      added.filter((p) => !after.get(p)!.startsWith('dir ')).sort(),
      [
        'etc/criguard/config.yaml',
        'etc/criguard/policy.yaml',
        'etc/systemd/system/multi-user.target.wants/criguard.service',
        'usr/bin/criguard',
        'usr/lib/systemd/system/criguard.service',
        'usr/share/criguard/kubelet.service.d/10-criguard.conf',
        'usr/share/doc/criguard/README.Debian',
        'usr/share/doc/criguard/changelog.gz',
        'usr/share/doc/criguard/copyright',
        'usr/share/doc/criguard/nodejs-notices.txt',
        'usr/share/lintian/overrides/criguard',
        'usr/share/man/man1/criguard.1.gz',
        'var/lib/systemd/deb-systemd-helper-enabled/criguard.service.dsh-also',
        'var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/criguard.service',
        ...[...after.keys()].filter((p) => /^usr\/lib\/systemd\/system\/.*\.(socket|timer|path)$/.test(p)),
        ...[...after.keys()].filter((p) => /^etc\/systemd\/system\/sockets\.target\.wants\//.test(p)),
        ...[...after.keys()].filter(
          (p) => /deb-systemd-helper-enabled\/.*socket/.test(p) && !after.get(p)!.startsWith('dir '),
        ),
      ].sort(),
    );
    for (const unit of readdirSync('systemd').filter((n) => /\.(service|socket|timer|path)$/.test(n))) {
      t.true(after.has(`usr/lib/systemd/system/${unit}`), `${unit} is shipped`);
    }
    t.is(after.get('usr/bin/criguard')?.split(' ')[1], '755');
    t.is(after.get('etc/criguard')?.split(' ')[1], '700');
    t.is(after.get('etc/criguard/policy.yaml')?.split(' ')[1], '600');
    t.is(
      after.get('etc/systemd/system/multi-user.target.wants/criguard.service'),
      'link -> /usr/lib/systemd/system/criguard.service',
    );
    const unit = readFileSync(join(root, 'usr/lib/systemd/system/criguard.service'), 'utf8');
    t.regex(unit, /^ExecStart=\/usr\/bin\/criguard serve /m);
    t.notRegex(unit, /\/usr\/local\/bin/);
    t.false(after.has('etc/systemd/system/kubelet.service.d'), 'the kubelet drop-in is not active');
    const { stdout: conffiles } = await run('dpkg-query', [
      `--admindir=${root}/var/lib/dpkg`,
      '-W',
      '-f=${Conffiles}',
      'criguard',
    ]);
    t.deepEqual(
      conffiles
        .trim()
        .split('\n')
        .map((l) => l.trim().split(' ')[0]),
      ['/etc/criguard/config.yaml', '/etc/criguard/policy.yaml'],
    );
    const { stdout: v } = await run(join(root, 'usr/bin/criguard'), ['--version'], { env: {} });
    t.is(v.trim(), `criguard ${version}`);
    const { stdout: ps } = await run('ps', ['-eo', 'args']);
    t.false(ps.includes(join(root, 'usr/bin/criguard')), 'the package started no daemon');
  },
);

test.serial('upgrade: new version, operator-edited config kept, units still enabled', async (t) => {
  appendFileSync(join(root, 'etc/criguard/config.yaml'), 'logLevel: debug # edited by the operator\n');
  const edited = readFileSync(join(root, 'etc/criguard/config.yaml'), 'utf8');
  const r = await dpkg('--force-confold', '-i', debs.second);
  t.is(r.code, 0, r.stderr);
  t.is(await status(), `install ok installed ${nextVersion}`);
  t.is(readFileSync(join(root, 'etc/criguard/config.yaml'), 'utf8'), edited);
  t.is(
    readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants/criguard.service')),
    '/usr/lib/systemd/system/criguard.service',
  );
});

test.serial('remove is refused while the kubelet is switched to criguard, and changes nothing', async (t) => {
  const dropIn = join(root, 'etc/systemd/system/kubelet.service.d/10-criguard.conf');
  mkdirSync(join(root, 'etc/systemd/system/kubelet.service.d'), { recursive: true });
  copyFileSync(join(root, 'usr/share/criguard/kubelet.service.d/10-criguard.conf'), dropIn);
  try {
    const before = tree();
    const r = await dpkg('-r', 'criguard');
    t.not(r.code, 0);
    t.regex(r.stderr, /the kubelet still uses criguard/);
    // dpkg records the request (selection "deinstall") but the package stays installed and configured.
    t.true((await status()).endsWith(` ok installed ${nextVersion}`), await status());
    t.deepEqual(tree(), before);
  } finally {
    rmSync(join(root, 'etc/systemd/system/kubelet.service.d'), { recursive: true, force: true });
  }
});

test.serial('remove: program and units gone, configuration and state kept, unit masked', async (t) => {
  // What the running daemon would have written.
  mkdirSync(join(root, 'var/lib/criguard'), { recursive: true });
  writeFileSync(join(root, 'var/lib/criguard/verdicts.json'), '{}');
  mkdirSync(join(root, 'var/log/criguard'), { recursive: true });
  writeFileSync(join(root, 'var/log/criguard/audit.log'), '{}\n');
  writeFileSync(join(root, 'etc/criguard/breakglass.yaml'), 'reason: test\n', { mode: 0o600 });
  const r = await dpkg('-r', 'criguard');
  t.is(r.code, 0, r.stderr);
  t.is(await status(), `deinstall ok config-files ${nextVersion}`);
  const after = tree();
  for (const gone of ['usr/bin/criguard', 'usr/lib/systemd/system/criguard.service', 'usr/share/criguard']) {
    t.false(after.has(gone), gone);
  }
  for (const kept of [
    'etc/criguard/config.yaml',
    'etc/criguard/policy.yaml',
    'etc/criguard/breakglass.yaml',
    'var/lib/criguard/verdicts.json',
    'var/log/criguard/audit.log',
  ]) {
    t.true(after.has(kept), kept);
  }
  // As with every Debian service: the enablement stays recorded until purge, the unit is masked meanwhile.
  t.true(after.has('etc/systemd/system/multi-user.target.wants/criguard.service'));
  t.is(
    after.get('etc/systemd/system/criguard.service'),
    'link -> /dev/null',
    'masked until purge or reinstall',
  );
});

test.serial('purge: configuration, state and logs removed; the root is as before install', async (t) => {
  const r = await dpkg('-P', 'criguard');
  t.is(r.code, 0, r.stderr);
  t.is(await status(), '');
  t.deepEqual(Object.fromEntries(tree()), Object.fromEntries(pristine));
});

test('lintian finds no errors or warnings', async (t) => {
  const result = await lintian;
  t.notRegex(result.stderr, /ENOENT/, 'lintian is not installed: run scripts/setup.sh');
  const findings = result.stdout.split('\n').filter((l) => /^[EW]: /.test(l));
  t.deepEqual(findings, [], result.stdout + result.stderr);
});
