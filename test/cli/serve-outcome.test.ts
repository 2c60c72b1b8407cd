import test from 'ava';
import { exitCodeOf } from '../../src/cli/serve.js';

// docs/cli.md: exit 0 after draining, 2 for an invalid policy at start, 1 when the socket or the metrics
// endpoint cannot be set up.
test('the CLI maps each way the daemon can end to the documented exit code', (t) => {
  t.is(exitCodeOf({ kind: 'stopped', signal: 'SIGTERM' }), 0);
  t.is(exitCodeOf({ kind: 'stopped', signal: 'SIGINT' }), 0);
  t.is(exitCodeOf({ kind: 'invalid-policy' }), 2);
  for (const stage of ['socket-activation', 'proxy', 'metrics'] as const) {
    t.is(exitCodeOf({ kind: 'failed', stage }), 1, stage);
  }
});
