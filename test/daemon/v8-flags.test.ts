import test from 'ava';
import { execFileSync } from 'node:child_process';
import { DAEMON_V8_FLAGS } from '../../src/daemon/v8-flags.js';

// setFlagsFromString ignores a flag V8 does not know: a renamed flag would silently stop bounding memory.
test('every V8 flag the daemon sets is one this runtime knows', (t) => {
  const known = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
  t.true(DAEMON_V8_FLAGS.length >= 2);
  for (const flag of DAEMON_V8_FLAGS) {
    const name = flag.replace(/=.*$/, '');
    t.true(known.includes(`  ${name} (`), `${name} is not a V8 option of node ${process.version}`);
  }
});

test('the runtime accepts each flag with its value', (t) => {
  for (const flag of DAEMON_V8_FLAGS) {
    t.notThrows(() => execFileSync(process.execPath, [flag, '-e', '0'], { stdio: 'pipe' }), flag);
  }
});
