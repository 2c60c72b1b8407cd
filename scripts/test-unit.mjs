// `npm run test:unit [ava options] [test files or folders]`: compiles src/ and test/ to .tmp/unit/
// (scripts/build-unit-tests.mjs), then runs ava on the unit lane (ava.unit.config.js). Paths are given as
// written (`test/policy`, `test/cri/status.test.ts`) and mapped to their compiled form; other arguments
// go to ava unchanged. Exits with ava's status.
import { spawnSync } from 'node:child_process';
import { URL, fileURLToPath } from 'node:url';
import { buildUnitTests } from './build-unit-tests.mjs';

/** `test/a/b.test.ts` → `.tmp/unit/test/a/b.test.js`; `test/a` → `.tmp/unit/test/a`; anything else as is. */
export function compiledPath(arg) {
  if (!/^(\.\/)?test(\/|$)/.test(arg)) return arg;
  return `.tmp/unit/${arg.replace(/^\.\//, '').replace(/\.ts$/, '.js')}`;
}

await buildUnitTests();
const ava = fileURLToPath(new URL('../node_modules/ava/entrypoints/cli.mjs', import.meta.url));
const args = ['--config', 'ava.unit.config.js', ...process.argv.slice(2).map(compiledPath)];
const { status, signal } = spawnSync(process.execPath, [ava, ...args], { stdio: 'inherit' });
process.exit(status ?? (signal ? 1 : 0));
