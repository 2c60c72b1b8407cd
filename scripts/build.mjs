// Bundles src/main.ts into dist/criguard.cjs: one CommonJS file with every dependency inside, used by the
// `criguard` bin, the demo, the end-to-end tests and the single-file executable (scripts/package.mjs).
import { build } from 'esbuild';
import { readFileSync, chmodSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/**
 * hpack.js's buffer helpers (obuf, wbuf) allocate with the deprecated `new Buffer(n)`, and Node prints
 * DEP0005 into the daemon's log for it once the code is bundled (outside node_modules). Each call is
 * given a number, for which `Buffer.alloc(n)` is the same (zero-filled) allocation. The build fails if a
 * new version of these files no longer matches, so the patch is reviewed rather than silently dropped.
 */
const EXPECTED_BUFFER_CALLS = { obuf: 2, wbuf: 1 };
const noDeprecatedBuffer = {
  name: 'no-deprecated-buffer',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/](obuf|wbuf)[\\/]index\.js$/ }, async (args) => {
      const name = /(obuf|wbuf)[\\/]index\.js$/.exec(args.path)[1];
      const source = await readFile(args.path, 'utf8');
      const calls = source.match(/\bnew Buffer\(/g)?.length ?? 0;
      if (calls !== EXPECTED_BUFFER_CALLS[name]) {
        throw new Error(
          `${args.path}: ${calls} \`new Buffer(\` calls, expected ${EXPECTED_BUFFER_CALLS[name]}`,
        );
      }
      return { contents: source.replace(/\bnew Buffer\(/g, 'Buffer.alloc('), loader: 'js' };
    });
  },
};

/**
 * Libraries the daemon needs only on some paths: undici when a registry is first contacted, OpenPGP.js when
 * a PGP attestor key is first used (docs/adr/0008). Each is bundled on its own and embedded in
 * dist/criguard.cjs as a string, compiled (node:vm) the first time it is required: until then V8 neither
 * parses nor evaluates it, which keeps ~1 MiB of code out of every start-up (both the `node` bundle and the
 * single executable, which can load nothing but its one script).
 */
const LAZY_CHUNKS = {
  undici: 'undici',
  // openpgp's ES module build calls createRequire(import.meta.url), undefined in CommonJS: its CJS build.
  openpgp: './node_modules/openpgp/dist/node/openpgp.min.cjs',
};
const lazyChunks = {
  name: 'lazy-chunks',
  setup(b) {
    const filter = new RegExp(`^(${Object.keys(LAZY_CHUNKS).join('|')})$`);
    b.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'lazy-chunk' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-chunk' }, async (args) => {
      const chunk = await build({
        entryPoints: [LAZY_CHUNKS[args.path]],
        bundle: true,
        write: false,
        platform: 'node',
        format: 'cjs',
        target: 'node20',
        legalComments: 'none',
        minify: true,
        logLevel: 'warning',
      });
      const filename = `/criguard/lazy/${args.path}.cjs`;
      return {
        loader: 'js',
        contents:
          `const { compileFunction } = require('node:vm');\n` +
          `compileFunction(${JSON.stringify(chunk.outputFiles[0].text)}, ` +
          `['exports', 'require', 'module', '__filename', '__dirname'], { filename: ${JSON.stringify(filename)} })` +
          `(module.exports, require, module, ${JSON.stringify(filename)}, '/criguard/lazy');\n`,
      };
    });
  },
};

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
  plugins: [noDeprecatedBuffer, lazyChunks],
});
chmodSync('dist/criguard.cjs', 0o755);
