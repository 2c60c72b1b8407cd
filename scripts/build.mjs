// Bundles src/main.ts into dist/criguard.cjs: one CommonJS file with every dependency inside, used by the
// `criguard` bin, the demo, the end-to-end tests and the single-file executable (scripts/package.mjs).
import { build } from 'esbuild';
import { readFileSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
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
 * Libraries the daemon needs only on some paths (docs/adr/0008): undici when a registry is first contacted,
 * OpenPGP.js when a PGP attestor key is first used, sigstore-js when a keyless attestor or a Sigstore bundle
 * is first handled. Each chunk is bundled on its own and embedded in dist/criguard.cjs as a string, compiled
 * (node:vm) the first time it is required: until then V8 neither parses nor evaluates it, which keeps ~1 MiB
 * of code out of every start-up (both the `node` bundle and the single executable, which can load nothing
 * but its one script). Values: the entry file, or the packages one chunk holds (they import each other).
 */
const LAZY_CHUNKS = {
  undici: 'undici',
  // openpgp's ES module build calls createRequire(import.meta.url), undefined in CommonJS: its CJS build.
  openpgp: './node_modules/openpgp/dist/node/openpgp.min.cjs',
  'criguard-sigstore': ['@sigstore/bundle', '@sigstore/core', '@sigstore/verify', '@sigstore/protobuf-specs'],
};
/**
 * Packages imported by name (`import { Verifier } from '@sigstore/verify'`, evaluated at start in a bundle)
 * that get a facade instead: an object with a getter per export, which loads the chunk on first use. esbuild
 * reads named imports of CommonJS modules as property accesses at the point of use, so nothing is loaded
 * until a function actually uses the library.
 */
const FACADES = Object.fromEntries(
  Object.entries(LAZY_CHUNKS).flatMap(([chunk, entry]) =>
    Array.isArray(entry) ? entry.map((name) => [name, chunk]) : [],
  ),
);
const requireHere = createRequire(import.meta.url);
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

const lazyChunks = {
  name: 'lazy-chunks',
  setup(b) {
    const chunkFilter = new RegExp(`^(${Object.keys(LAZY_CHUNKS).map(escape).join('|')})$`);
    const facadeFilter = new RegExp(`^(${Object.keys(FACADES).map(escape).join('|')})$`);
    b.onResolve({ filter: facadeFilter }, (args) => ({ path: args.path, namespace: 'lazy-facade' }));
    b.onResolve({ filter: chunkFilter }, (args) => ({ path: args.path, namespace: 'lazy-chunk' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-facade' }, (args) => {
      const names = Object.keys(requireHere(args.path)).filter((n) => n !== '__esModule' && n !== 'default');
      return {
        loader: 'js',
        resolveDir: process.cwd(),
        contents:
          `Object.defineProperty(exports, '__esModule', { value: true });\n` +
          `const load = () => require(${JSON.stringify(FACADES[args.path])})[${JSON.stringify(args.path)}];\n` +
          `for (const name of ${JSON.stringify(names)})\n` +
          `  Object.defineProperty(exports, name, { enumerable: true, get: () => load()[name] });\n`,
      };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-chunk' }, async (args) => {
      const entry = LAZY_CHUNKS[args.path];
      const chunk = await build({
        ...(Array.isArray(entry)
          ? {
              stdin: {
                contents: `module.exports = { ${entry.map((n) => `${JSON.stringify(n)}: require(${JSON.stringify(n)})`).join(', ')} };`,
                resolveDir: process.cwd(),
                loader: 'js',
              },
            }
          : { entryPoints: [entry] }),
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
