// Bundles src/main.ts into dist/criguard.cjs: one CommonJS file with every dependency inside, used by the
// `criguard` bin, the demo, the end-to-end tests and the single-file executable (scripts/package.mjs).
import { build } from 'esbuild';
import { readFileSync, chmodSync } from 'node:fs';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
await build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/criguard.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: 'external',
  legalComments: 'none',
  minify: true,
  keepNames: true,
  logLevel: 'warning',
  define: { __CRIGUARD_VERSION__: JSON.stringify(pkg.version) },
  // openpgp's ES module build calls createRequire(import.meta.url), which is undefined in a CommonJS
  // bundle: bundle its CommonJS build instead.
  alias: { openpgp: './node_modules/openpgp/dist/node/openpgp.min.cjs' },
});
chmodSync('dist/criguard.cjs', 0o755);
