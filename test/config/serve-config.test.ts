import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SERVE_CONFIG, loadServeConfig } from '../../src/config/serve-config.js';
import { toSocketPath } from '../../src/config/socket-address.js';

const dir = mkdtempSync(join(tmpdir(), 'cgcfg-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

test('defaults apply without a file or flags', (t) => {
  t.deepEqual(loadServeConfig({ file: undefined, flags: {}, cwd: '/' }), DEFAULT_SERVE_CONFIG);
});

test('flags override the file; unix:// URLs and relative paths become absolute paths', (t) => {
  const cfg = loadServeConfig({
    file: file(
      'a.yaml',
      'listen: unix:///run/x/cg.sock\nupstream: /run/containerd/containerd.sock\nsocketMode: "0600"\n',
    ),
    flags: { upstream: 'unix://rel/up.sock', logLevel: 'debug' },
    cwd: '/work',
  });
  t.is(cfg.listen, '/run/x/cg.sock');
  t.is(cfg.upstream, '/work/rel/up.sock');
  t.is(cfg.socketMode, 0o600);
  t.is(cfg.logLevel, 'debug');
});

const invalid: Array<[string, string, RegExp]> = [
  ['unknown_key_fail', 'listen: /a\nlisen: /b\n', /lisen|Unrecognized/],
  ['wrong_type_fail', 'shutdownTimeoutSeconds: "soon"\n', /shutdownTimeoutSeconds/],
  ['bad_enum_fail', 'logLevel: loud\n', /logLevel/],
  ['bad_mode_fail', 'socketMode: "999"\n', /socketMode/],
  ['not_a_mapping_fail', '- a\n- b\n', /mapping/],
  ['tcp_upstream_fail', 'upstream: tcp://127.0.0.1:1234\n', /not a unix socket/],
  ['duplicate_key_fail', 'listen: /a\nlisten: /b\n', /YAML|unique|duplicate/i],
];
for (const [name, text, message] of invalid) {
  test(name, (t) => {
    const err = t.throws(() => loadServeConfig({ file: file(`${name}.yaml`, text), flags: {}, cwd: '/' }));
    t.is((err as { code?: string }).code, 'CG_ERR_CONFIG');
    t.regex(err!.message, message);
  });
}

test('all problems are reported at once, each with its field path', (t) => {
  const err = t.throws(() =>
    loadServeConfig({
      file: file('many.yaml', 'logLevel: loud\nsocketMode: "9"\nextra: 1\n'),
      flags: {},
      cwd: '/',
    }),
  );
  t.regex(err!.message, /logLevel/);
  t.regex(err!.message, /socketMode/);
  t.regex(err!.message, /extra|Unrecognized/);
});

test('an unreadable config file is a config error', (t) => {
  const err = t.throws(() => loadServeConfig({ file: join(dir, 'missing.yaml'), flags: {}, cwd: '/' }));
  t.is((err as { code?: string }).code, 'CG_ERR_CONFIG');
});

test('socket addresses: only paths and unix:// URLs', (t) => {
  t.is(toSocketPath('unix:///run/a.sock', '/'), '/run/a.sock');
  t.is(toSocketPath('/run/a.sock', '/'), '/run/a.sock');
  for (const bad of ['', 'http://x', 'tcp://1.2.3.4:5', 'unix://']) {
    t.is((t.throws(() => toSocketPath(bad, '/')) as { code?: string }).code, 'CG_ERR_CONFIG', bad);
  }
});
