import test from 'ava';
import { lstatSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { admitEverything } from '../../src/admission/admission.js';
import { createCreateContainerGate } from '../../src/cri/gates/create-container.js';
import { createPullImageGate } from '../../src/cri/gates/pull-image.js';
import { DEFAULT_LIMITS, startProxyServer, type SocketSetupError } from '../../src/cri/proxy-server.js';
import { createRouter } from '../../src/cri/routes.js';
import { silentLogger } from '../helpers/proxy-under-test.js';

const route = createRouter({
  pullImage: createPullImageGate(admitEverything),
  createContainer: createCreateContainerGate(admitEverything),
});
const start = (listenPath: string, socketMode = 0o660) =>
  startProxyServer({
    listenPath,
    upstreamPath: '/nonexistent.sock',
    socketMode,
    route,
    logger: silentLogger,
    limits: DEFAULT_LIMITS,
  });

test('creates a missing parent directory and the socket with the configured mode', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cgs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'sub', 'cg.sock');
  const server = await start(path, 0o600);
  t.true(lstatSync(path).isSocket());
  t.is(lstatSync(path).mode & 0o777, 0o600);
  t.is(lstatSync(join(dir, 'sub')).mode & 0o777, 0o750);
  await server.stop(100);
  t.throws(() => lstatSync(path), undefined, 'the socket is removed on stop');
});

test('a stale socket from a crashed run is replaced', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cgs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'cg.sock');
  const stale = createServer().listen(path);
  await new Promise((r) => stale.once('listening', r));
  // Simulate a crash: the file stays, nothing listens any more.
  (stale as unknown as { _handle: { close(): void } })._handle.close();
  const server = await start(path);
  t.true(lstatSync(path).isSocket());
  await server.stop(100);
});

test('a second instance refuses to start while one is live', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cgs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'cg.sock');
  const first = await start(path);
  const err = await t.throwsAsync<SocketSetupError>(start(path));
  t.is(err.code, 'CG_ERR_SOCKET_IN_USE');
  t.true(lstatSync(path).isSocket(), 'the live socket is left alone');
  await first.stop(100);
});

test('a symlink or a regular file at the socket path is refused, never followed or removed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cgs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const target = join(dir, 'precious');
  writeFileSync(target, 'data');
  const link = join(dir, 'link.sock');
  symlinkSync(target, link);
  t.is((await t.throwsAsync<SocketSetupError>(start(link))).code, 'CG_ERR_SOCKET_PATH');
  t.is((await t.throwsAsync<SocketSetupError>(start(target))).code, 'CG_ERR_SOCKET_PATH');
  t.true(lstatSync(link).isSymbolicLink());
  t.true(lstatSync(target).isFile());
});
