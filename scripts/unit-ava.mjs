// `ava` as the unit lane's compiled test files import it (scripts/build-unit-tests.mjs rewrites their
// `from 'ava'`; docs/adr/0063-test-lanes.md, addendum). Run on its own, a test file sees ava unchanged.
//
// In a shard (one ava worker importing several test files, scripts/unit-shards.mjs, so that they share the
// worker's start-up and module loading) the shard calls `beginFile` before importing each file, then
// `declareAll`. Meanwhile the files' declarations are held, because ava starts running tests one tick
// after the first declaration and a file may await (top-level) before it declares; `declareAll` hands
// them to ava in one go, in order. And:
// - every test a file declares is titled `<file> › <title>`: titles stay unique across the shard, and a
//   report or failure names the file the test comes from;
// - its `beforeEach`/`afterEach` hooks run around its own tests only, as they would alone;
// - its `before` and `after` hooks run before, and after, all of the shard's tests (still once, still
//   around the file's own tests).
// A test without a string title (a macro's title function) is refused in a shard.
import ava from 'ava';

/** The title prefix of the file a shard is importing; undefined outside a shard. */
let prefix;
/** Declarations held until `declareAll`: the chain's property path from `test`, and the arguments. */
const held = [];

/** Called by a shard before it imports a test file: `name` prefixes the titles the file declares. */
export function beginFile(name) {
  prefix = `${name} › `;
}

/** Called by a shard once it has imported its files: declares what they declared, to ava, in order. */
export function declareAll() {
  for (const { path, args } of held.splice(0)) {
    Reflect.apply(
      path.reduce((fn, property) => fn[property], ava),
      undefined,
      args,
    );
  }
}

/** What calling `test.<path…>` does: declare a test, a per-test hook, another hook, or nothing (a macro). */
function kind(path) {
  if (path.includes('macro')) return 'other';
  if (path.includes('beforeEach') || path.includes('afterEach')) return 'each';
  if (path.includes('before') || path.includes('after')) return 'hook';
  return 'test';
}

/** A per-test hook's arguments, its implementation made to act only around the current file's tests. */
function ownTestsOnly(args) {
  const mine = prefix;
  return args.map((arg) => {
    if (typeof arg === 'string') return arg;
    if (typeof arg !== 'function') throw new TypeError(`${mine}a per-test hook in a shard must be a function`);
    return (t, ...rest) => (t.title.includes(` for ${mine}`) ? arg(t, ...rest) : undefined);
  });
}

function wrap(target, path) {
  return new Proxy(target, {
    apply(fn, self, args) {
      const what = kind(path);
      if (prefix === undefined || what === 'other') return Reflect.apply(fn, self, args);
      if (what === 'test') {
        if (typeof args[0] !== 'string') {
          throw new TypeError(`${prefix}a test in a shard needs a string title: run the file on its own`);
        }
        args = [`${prefix}${args[0]}`, ...args.slice(1)];
      }
      if (what === 'each') args = ownTestsOnly(args);
      held.push({ path, args });
      return undefined;
    },
    get(fn, property, receiver) {
      const value = Reflect.get(fn, property, receiver);
      return typeof value === 'function' ? wrap(value, [...path, property]) : value;
    },
  });
}

export default wrap(ava, []);
