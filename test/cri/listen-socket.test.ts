import test from 'ava';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assertInheritedSocket,
  bindListenSocket,
  takeSystemdSocket,
  type SocketSetupError,
} from '../../src/cri/listen-socket.js';

test('LISTEN_* variables are honoured only when LISTEN_PID names this process, and always cleared', (t) => {
  const env = (vars: Record<string, string>) => ({ PATH: '/bin', ...vars });
  const none = env({});
  t.is(takeSystemdSocket(none, 42), undefined);
  // Inherited from a parent that was activated: not ours, and not passed on to our children either.
  const parents = env({ LISTEN_PID: '41', LISTEN_FDS: '1', LISTEN_FDNAMES: 'criguard' });
  t.is(takeSystemdSocket(parents, 42), undefined);
  t.deepEqual(parents, { PATH: '/bin' });
  const ours = env({ LISTEN_PID: '42', LISTEN_FDS: '1', LISTEN_FDNAMES: 'criguard' });
  t.deepEqual(takeSystemdSocket(ours, 42), { fd: 3, name: 'criguard' });
  t.deepEqual(ours, { PATH: '/bin' });
  t.deepEqual(takeSystemdSocket(env({ LISTEN_PID: '42', LISTEN_FDS: '1' }), 42), { fd: 3, name: undefined });
  t.is(takeSystemdSocket(env({ LISTEN_PID: '42', LISTEN_FDS: '0' }), 42), undefined);
});

test('more than one passed socket, or a malformed count, refuses to start instead of guessing', (t) => {
  for (const fds of ['2', 'one', '']) {
    const err = t.throws<SocketSetupError>(() => takeSystemdSocket({ LISTEN_PID: '7', LISTEN_FDS: fds }, 7));
    t.is(err?.code, 'CG_ERR_SOCKET_ACTIVATION', fds);
  }
});

function listening(path: string): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer().listen(path, () => resolve(server));
  });
}
const fdOf = (handle: unknown) => (handle as { _handle: { fd: number } })._handle.fd;

test('a passed socket bound to another path than listen is refused, naming both', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cgl-'));
  const held = await listening(join(dir, 'other.sock'));
  t.teardown(() => {
    held.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const err = await t.throwsAsync<SocketSetupError>(
    bindListenSocket(createServer(), {
      path: join(dir, 'criguard.sock'),
      mode: 0o660,
      inherited: { fd: fdOf(held), name: 'criguard' },
    }),
  );
  t.is(err?.code, 'CG_ERR_SOCKET_PATH');
  t.true(err?.message.includes(join(dir, 'other.sock')) && err.message.includes(join(dir, 'criguard.sock')));
});

test('a passed descriptor that is a file or a connected socket is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cgl-'));
  const path = join(dir, 'criguard.sock');
  const file = openSync(join(dir, 'plain'), 'w');
  const server = await listening(path);
  const client = connect(path);
  await new Promise((r) => client.once('connect', r));
  t.teardown(() => {
    client.destroy();
    server.close();
    closeSync(file);
    rmSync(dir, { recursive: true, force: true });
  });
  for (const fd of [file, fdOf(client)]) {
    const err = await t.throwsAsync<SocketSetupError>(
      bindListenSocket(createServer(), { path, mode: 0o660, inherited: { fd, name: undefined } }),
    );
    t.is(err?.code, 'CG_ERR_SOCKET_ACTIVATION');
  }
});

test('the same socket reached through a symlinked directory (/var/run → /run) is accepted', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cgl-'));
  const real = join(dir, 'run');
  mkdirSync(real);
  symlinkSync(real, join(dir, 'var-run'));
  const held = await listening(join(real, 'criguard.sock'));
  t.teardown(() => {
    held.close();
    rmSync(dir, { recursive: true, force: true });
  });
  t.notThrows(() => assertInheritedSocket(fdOf(held), join(dir, 'var-run', 'criguard.sock')));
  t.throws(() => assertInheritedSocket(fdOf(held), join(dir, 'var-run', 'other.sock')), {
    message: /bound to/,
  });
});
