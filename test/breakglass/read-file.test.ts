import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, chown, link, mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { loadBreakglass } from '../../src/breakglass/load.js';
import type { BreakglassProblemCode } from '../../src/breakglass/problems.js';
import { readBreakglassFile } from '../../src/breakglass/read-file.js';
import { tempDir, writeWithMode, yamlDoc } from './helpers.js';

const NOBODY = 65534;

/** Prepares `dir` so that `dir/bg/breakglass.yaml` is the path under test; returns that path. */
type Arrange = (dir: string, text: string) => Promise<string>;

const safe: Arrange = async (dir, text) => {
  await mkdir(join(dir, 'bg'), { mode: 0o755 });
  await chmod(join(dir, 'bg'), 0o755);
  const path = join(dir, 'bg', 'breakglass.yaml');
  await writeWithMode(path, text, 0o600);
  return path;
};

const then =
  (step: (path: string, dir: string) => Promise<void>): Arrange =>
  async (dir, text) => {
    const path = await safe(dir, text);
    await step(path, dir);
    return path;
  };

interface SafetyCase {
  readonly name: string;
  readonly arrange: Arrange;
  /** undefined: read and honoured. */
  readonly code: BreakglassProblemCode | undefined;
}

const cases: SafetyCase[] = [
  { name: 'root-owned 0600 in a 0755 root directory', arrange: safe, code: undefined },
  {
    name: 'writable_grandparent_fail',
    arrange: then(async (_path, dir) => chmod(dir, 0o777)),
    code: 'CG_ERR_BREAKGLASS_DIR_UNSAFE',
  },
  {
    name: 'sticky world-writable grandparent (like /tmp) is fine',
    arrange: then(async (_path, dir) => chmod(dir, 0o1777)),
    code: undefined,
  },
  {
    name: 'grandparent_owned_by_another_user_fail',
    arrange: then(async (_path, dir) => chown(dir, NOBODY, NOBODY)),
    code: 'CG_ERR_BREAKGLASS_DIR_UNSAFE',
  },
  { name: 'world-readable 0644', arrange: then((p) => chmod(p, 0o644)), code: undefined },
  { name: 'read-only 0400', arrange: then((p) => chmod(p, 0o400)), code: undefined },
  {
    name: 'symlink_fail',
    arrange: async (dir, text) => {
      const real = await safe(dir, text);
      const path = join(dir, 'bg', 'link.yaml');
      await symlink(real, path);
      return path;
    },
    code: 'CG_ERR_BREAKGLASS_SYMLINK',
  },
  {
    name: 'dangling_symlink_fail',
    arrange: async (dir) => {
      await mkdir(join(dir, 'bg'), { mode: 0o755 });
      const path = join(dir, 'bg', 'breakglass.yaml');
      await symlink(join(dir, 'nowhere'), path);
      return path;
    },
    code: 'CG_ERR_BREAKGLASS_SYMLINK',
  },
  {
    name: 'hardlink_fail',
    arrange: then((p, dir) => link(p, join(dir, 'bg', 'other-name'))),
    code: 'CG_ERR_BREAKGLASS_HARDLINK',
  },
  {
    name: 'hardlink_from_another_directory_fail',
    arrange: then((p, dir) => link(p, join(dir, 'elsewhere'))),
    code: 'CG_ERR_BREAKGLASS_HARDLINK',
  },
  { name: 'owner_nobody_fail', arrange: then((p) => chown(p, NOBODY, 0)), code: 'CG_ERR_BREAKGLASS_OWNER' },
  {
    name: 'mode_0620_group_writable_fail',
    arrange: then((p) => chmod(p, 0o620)),
    code: 'CG_ERR_BREAKGLASS_MODE',
  },
  {
    name: 'mode_0602_world_writable_fail',
    arrange: then((p) => chmod(p, 0o602)),
    code: 'CG_ERR_BREAKGLASS_MODE',
  },
  { name: 'mode_0666_fail', arrange: then((p) => chmod(p, 0o666)), code: 'CG_ERR_BREAKGLASS_MODE' },
  {
    name: 'dir_group_writable_fail',
    arrange: then((p, dir) => chmod(join(dir, 'bg'), 0o775)),
    code: 'CG_ERR_BREAKGLASS_DIR_UNSAFE',
  },
  {
    name: 'dir_world_writable_fail',
    arrange: then((p, dir) => chmod(join(dir, 'bg'), 0o757)),
    code: 'CG_ERR_BREAKGLASS_DIR_UNSAFE',
  },
  {
    name: 'dir_world_writable_sticky_fail',
    arrange: then((p, dir) => chmod(join(dir, 'bg'), 0o1777)),
    code: 'CG_ERR_BREAKGLASS_DIR_UNSAFE',
  },
  {
    name: 'dir_owner_nobody_fail',
    arrange: then((p, dir) => chown(join(dir, 'bg'), NOBODY, 0)),
    code: 'CG_ERR_BREAKGLASS_DIR_UNSAFE',
  },
  {
    name: 'dir_symlink_fail',
    arrange: async (dir, text) => {
      await safe(dir, text);
      await symlink(join(dir, 'bg'), join(dir, 'linked'));
      return join(dir, 'linked', 'breakglass.yaml');
    },
    code: 'CG_ERR_BREAKGLASS_DIR_UNSAFE',
  },
  {
    name: 'directory_not_file_fail',
    arrange: async (dir) => {
      await mkdir(join(dir, 'bg', 'breakglass.yaml'), { recursive: true });
      return join(dir, 'bg', 'breakglass.yaml');
    },
    code: 'CG_ERR_BREAKGLASS_NOT_REGULAR',
  },
  {
    name: 'fifo_fail',
    arrange: async (dir) => {
      await mkdir(join(dir, 'bg'), { mode: 0o755 });
      const path = join(dir, 'bg', 'breakglass.yaml');
      execFileSync('mkfifo', ['-m', '0600', path]);
      return path;
    },
    code: 'CG_ERR_BREAKGLASS_NOT_REGULAR',
  },
  {
    name: 'too_large_fail',
    arrange: async (dir, text) => safe(dir, `${text}#${'x'.repeat(70 * 1024)}\n`),
    code: 'CG_ERR_BREAKGLASS_TOO_LARGE',
  },
];

for (const c of cases) {
  test(`file safety: ${c.name}`, async (t) => {
    const dir = await tempDir(t);
    const text = yamlDoc();
    const path = await c.arrange(dir, text);
    const read = readBreakglassFile(path);
    if (c.code === undefined) {
      t.is(read.kind, 'read');
      if (read.kind === 'read') {
        t.is(Buffer.from(read.bytes).toString('utf8'), text);
        t.is(read.sha256, `sha256:${createHash('sha256').update(text).digest('hex')}`);
      }
    } else {
      t.is(read.kind, 'unsafe');
      if (read.kind === 'unsafe') t.is(read.problem.code, c.code, read.problem.message);
      // Ignored as a whole: the loader never parses an unsafe file.
      t.is(loadBreakglass(path).kind, 'invalid');
    }
  });
}

test('a missing file or directory is absent', async (t) => {
  const dir = await tempDir(t);
  t.is(readBreakglassFile(join(dir, 'breakglass.yaml')).kind, 'absent');
  t.is(readBreakglassFile(join(dir, 'no-dir', 'breakglass.yaml')).kind, 'absent');
  t.deepEqual(loadBreakglass(join(dir, 'breakglass.yaml')), { kind: 'absent' });
});

test('the expected uid is injectable', async (t) => {
  const dir = await tempDir(t);
  const path = await safe(dir, yamlDoc());
  await chown(join(dir, 'bg'), NOBODY, 0);
  await chown(path, NOBODY, 0);
  t.is(readBreakglassFile(path, { expectedUid: NOBODY }).kind, 'read');
  const asRoot = readBreakglassFile(path);
  t.is(asRoot.kind === 'unsafe' ? asRoot.problem.code : undefined, 'CG_ERR_BREAKGLASS_OWNER');
});

test('invalid_field_file_grants_nothing_fail: one bad field invalidates the whole file, hash still reported', async (t) => {
  const dir = await tempDir(t);
  const text = yamlDoc({ scope: ['  namespaces: [payments]', '  images: ["gcr.io/*/bad"]'] });
  const path = await safe(dir, text);
  const loaded = loadBreakglass(path);
  t.is(loaded.kind, 'invalid');
  if (loaded.kind === 'invalid') {
    t.is(loaded.problem.code, 'CG_ERR_BREAKGLASS_PARSE');
    t.is(loaded.fileSha256, `sha256:${createHash('sha256').update(text).digest('hex')}`);
  }
});
