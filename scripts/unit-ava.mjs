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

/**
 * Called by a shard once it has imported its files: declares what they declared, to ava, in order. The
 * files' concurrent tests then run a file at a time (at most `window` files at once): a file's tests start
 * once those of the files `window` places before it have all ended, so a test's event loop is shared with
 * hardly more than its own file's tests, as when the file runs on its own, and a deadline in a test (or in
 * the code under test) is not eaten by the rest of the shard. Serial tests, which ava runs before all
 * concurrent ones (each alone), are not held; nor is anything if a file uses `.only`.
 */
export function declareAll(window = 1) {
  const declarations = held.splice(0);
  const gated = !declarations.some(({ path }) => path.includes('only'));
  const runsConcurrently = ({ file, path }) =>
    gated && file !== undefined && !['serial', 'skip', 'todo'].some((member) => path.includes(member));
  /** Per file: its concurrent tests not ended yet, how to mark its end, and when it may start. */
  const files = new Map();
  const ends = [];
  for (const declaration of declarations.filter(runsConcurrently)) {
    if (!files.has(declaration.file)) {
      const before = ends.slice(0, Math.max(0, ends.length + 1 - window));
      let resolve;
      ends.push(new Promise((r) => (resolve = r)));
      files.set(declaration.file, { left: 0, resolve, start: Promise.all(before) });
    }
    files.get(declaration.file).left += 1;
  }
  for (const declaration of declarations) {
    const { path, args } = declaration;
    const fn = path.reduce((chain, property) => chain[property], ava);
    if (!runsConcurrently(declaration)) Reflect.apply(fn, undefined, args);
    else
      Reflect.apply(fn, undefined, [
        args[0],
        afterTurn(args[1], files.get(declaration.file)),
        ...args.slice(2),
      ]);
  }
}

/** A test implementation (or macro) that waits for its file's turn and reports its end to the file. */
function afterTurn(implementation, gate) {
  const settle = () => {
    gate.left -= 1;
    if (gate.left === 0) gate.resolve();
  };
  const run =
    (exec) =>
    async (t, ...rest) => {
      await gate.start;
      try {
        return await exec(t, ...rest);
      } finally {
        settle();
      }
    };
  if (typeof implementation === 'function') return run(implementation);
  if (
    implementation !== null &&
    typeof implementation === 'object' &&
    typeof implementation.exec === 'function'
  ) {
    return { ...implementation, exec: run(implementation.exec) };
  }
  return implementation;
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
    if (typeof arg !== 'function')
      throw new TypeError(`${mine}a per-test hook in a shard must be a function`);
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
      held.push({ file: what === 'test' ? prefix : undefined, path, args });
      return undefined;
    },
    get(fn, property, receiver) {
      const value = Reflect.get(fn, property, receiver);
      return typeof value === 'function' ? wrap(value, [...path, property]) : value;
    },
  });
}

export default wrap(ava, []);
