import test from 'ava';
import { LoopTurns } from '../../src/scheduling/loop-turns.js';

/** Counts turns of the event loop: one immediate per turn, started before the waiters ask. */
function turnCounter(): { readonly now: () => number; readonly stop: () => void } {
  let turns = 0;
  let stopped = false;
  const tick = () => {
    turns += 1;
    if (!stopped) setImmediate(tick);
  };
  setImmediate(tick);
  return { now: () => turns, stop: () => (stopped = true) };
}

test('waiters are released in the order they asked, one per turn of the loop', async (t) => {
  const turns = new LoopTurns(1);
  const counter = turnCounter();
  const released: Array<{ who: number; turn: number }> = [];
  await Promise.all(
    [0, 1, 2, 3, 4].map((who) => turns.next().then(() => released.push({ who, turn: counter.now() }))),
  );
  counter.stop();
  t.deepEqual(
    released.map((r) => r.who),
    [0, 1, 2, 3, 4],
  );
  for (let i = 1; i < released.length; i++)
    t.true(released[i]!.turn > released[i - 1]!.turn, `waiter ${i} in a later turn than ${i - 1}`);
  t.is(turns.pending, 0);
});

test('perTurn waiters share a turn', async (t) => {
  const turns = new LoopTurns(2);
  const counter = turnCounter();
  const at: number[] = [];
  await Promise.all([0, 1, 2, 3].map(() => turns.next().then(() => at.push(counter.now()))));
  counter.stop();
  t.is(at[0], at[1]);
  t.is(at[2], at[3]);
  t.true(at[2]! > at[1]!);
});

test('other work of the loop is not starved by waiters: an immediate queued by one runs before the waiter two turns on', async (t) => {
  const turns = new LoopTurns(1);
  const order: string[] = [];
  const a = turns.next().then(() => {
    order.push('a');
    // Other code's work (a frame forwarded meanwhile): an immediate asked now runs in the next turn.
    setImmediate(() => order.push('other'));
  });
  const b = turns.next().then(() => order.push('b'));
  const c = turns.next().then(() => order.push('c'));
  await Promise.all([a, b, c]);
  t.deepEqual(order.slice(0, 1), ['a']);
  t.true(order.indexOf('other') < order.indexOf('c'), order.join(','));
  t.throws(() => new LoopTurns(0), { instanceOf: RangeError });
});
