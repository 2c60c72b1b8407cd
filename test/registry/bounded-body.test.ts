import test from 'ava';
import { readBoundedBody } from '../../src/registry/bounded-body.js';
import { registryTurns } from '../../src/scheduling/loop-turns.js';

/** An in-memory response as the transport hands it over (body: chunks, cancellable). */
function response(text: string, headers: Record<string, string> = {}) {
  return {
    headers: { get: (name: string) => headers[name.toLowerCase()] ?? null },
    body: {
      async *[Symbol.asyncIterator]() {
        yield Buffer.from(text);
      },
      cancel: async () => undefined,
    },
  };
}

test.serial(
  'a body is handed back in a turn of the event loop of its own (ADR 0009: registry turns)',
  async (t) => {
    const res = response('{"schemaVersion":2}', { 'content-length': '19' });
    // Queued before the read: without the turn, the in-memory body would come back in microtasks, first.
    let otherWorkRan = false;
    setImmediate(() => (otherWorkRan = true));
    const body = await readBoundedBody(res, 1024, 'manifest');
    t.is(Buffer.from(body).toString(), '{"schemaVersion":2}');
    t.true(otherWorkRan, 'work queued on the loop before the answer ran before its handling');
    t.is(registryTurns.pending, 0);
  },
);

test.serial('a body over the limit is refused without waiting for a turn', async (t) => {
  const res = response('x'.repeat(100));
  await t.throwsAsync(readBoundedBody(res, 10, 'blob'), { code: 'CG_ERR_REGISTRY_LIMIT' });
  t.is(registryTurns.pending, 0);
});
