import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveCommand } from '../../src/cli/serve.js';
import { flagsToInput, serveOptionSpecs } from '../../src/cli/serve-options.js';
import { DEFAULT_BREAKGLASS_PATH, DEFAULT_MAX_WINDOW_MS } from '../../src/breakglass/defaults.js';
import { DEFAULT_SERVE_CONFIG, loadServeConfig } from '../../src/config/serve-config.js';
import { defaultText, SETTING_KEYS, settingOf } from '../../src/config/serve-settings.js';
import { serveDefaults } from '../../src/install/host-layout.js';

/** The rows of docs/configuration.md's settings table: key → [flag cell, default cell]. */
function documentedRows(): Map<string, [string, string]> {
  const rows = new Map<string, [string, string]>();
  for (const line of readFileSync('docs/configuration.md', 'utf8').split('\n')) {
    const cells = /^\| `([A-Za-z.]+)` \|([^|]*)\|([^|]*)\|/.exec(line);
    if (cells) rows.set(cells[1] ?? '', [(cells[2] ?? '').trim(), (cells[3] ?? '').trim()]);
  }
  return rows;
}

test('docs/configuration.md has one row per setting, with its flag and default', (t) => {
  const rows = documentedRows();
  t.deepEqual([...rows.keys()].sort(), [...SETTING_KEYS].sort());
  for (const key of SETTING_KEYS) {
    const { flag } = settingOf(key);
    const [flagCell, defaultCell] = rows.get(key) ?? ['', ''];
    t.is(flagCell, flag === undefined ? '' : `\`--${flag}\``, key);
    t.is(defaultCell, `\`${defaultText(key)}\``, key);
  }
});

test('serve --help names every setting: its flag, or the key when it is config file only', (t) => {
  for (const key of SETTING_KEYS) {
    const { flag } = settingOf(key);
    t.true(serveCommand.usage.includes(flag === undefined ? `\n  ${key} ` : `--${flag}`), key);
    t.true(serveCommand.usage.includes(key), key);
  }
});

test('every flag sets its key, with the same validation as the config file', (t) => {
  const args: Record<string, string | boolean | string[]> = {};
  for (const key of SETTING_KEYS) {
    const { flag, kind } = settingOf(key);
    if (flag === undefined) continue;
    t.truthy(serveOptionSpecs()[flag], flag);
    args[flag] = kind === 'boolean' ? true : kind === 'paths' ? ['/a.pem'] : kind === 'number' ? '7' : 'x';
  }
  const input = flagsToInput(args);
  t.is((input.cache as Record<string, unknown>).denyTtlSeconds, 7);
  t.is(input.podBreakglassLabel, true);
  // 'x' is no valid metrics address or log level: flags are validated like the file, all problems at once.
  const err = t.throws(() => loadServeConfig({ file: undefined, flags: input, cwd: '/' }));
  t.regex(err?.message ?? '', /logLevel/);
  t.regex(err?.message ?? '', /metricsAddress/);
  t.throws(() => flagsToInput({ 'cache-max-entries': 'many' }), {
    message: /--cache-max-entries takes a number/,
  });
});

test('a flag for one cache key keeps the config file value of the others', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cgset-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'config.yaml'), 'cache:\n  maxEntries: 5\n  denyTtlSeconds: 1\n');
  const cfg = loadServeConfig({
    file: join(dir, 'config.yaml'),
    flags: flagsToInput({ 'cache-deny-ttl': '9' }),
    cwd: '/',
  });
  t.deepEqual(cfg.cache, { ...DEFAULT_SERVE_CONFIG.cache, maxEntries: 5, denyTtlSeconds: 9 });
});

test('the installer and the breakglass commands use the settings table defaults', (t) => {
  t.is<string, string>(serveDefaults.listen, DEFAULT_SERVE_CONFIG.listen);
  t.is<string, string>(serveDefaults.metricsAddress, DEFAULT_SERVE_CONFIG.metricsAddress);
  t.is<string, string>(DEFAULT_BREAKGLASS_PATH, DEFAULT_SERVE_CONFIG.breakglassFile);
  t.is(DEFAULT_MAX_WINDOW_MS, DEFAULT_SERVE_CONFIG.breakglassMaxWindowHours * 3_600_000);
});
