/** A private OCI registry (Debian's `docker-registry`, distribution 2.8) on 127.0.0.1 for tests. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnDaemon, freePort, waitFor, type Daemon } from './daemon.js';
import { onProcessExit } from './exit-hooks.js';

const REGISTRY_BIN = '/usr/bin/docker-registry';

export interface Registry {
  /** `127.0.0.1:PORT`, the registry part of image references. */
  readonly host: string;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Temp dir holding the config, the storage (`storage/`) and the log (`registry.log`). */
  readonly dir: string;
  /** Stops the registry process, keeping port and storage (simulates an outage). Idempotent. */
  stop(): Promise<void>;
  /** Stops it if running, then starts it again on the same port and storage; resolves when it answers. */
  restart(): Promise<void>;
  /** Stops it and deletes its storage. Idempotent. */
  dispose(): Promise<void>;
}

/**
 * Starts a registry with filesystem storage on `port` (default: a free one); resolves once `GET /v2/`
 * answers (200, or 401 with `basicAuth`: htpasswd basic auth for that user, bcrypt by Apache's htpasswd).
 */
export async function startRegistry(
  opts: { port?: number; basicAuth?: { user: string; password: string } } = {},
): Promise<Registry> {
  const dir = mkdtempSync('/tmp/cgr-');
  const unhook = onProcessExit(() => rmSync(dir, { recursive: true, force: true }));
  const port = opts.port ?? (await freePort());
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}`;
  const config = join(dir, 'config.yml');
  const auth: string[] = [];
  if (opts.basicAuth !== undefined) {
    const line = execFileSync('htpasswd', ['-nbB', opts.basicAuth.user, opts.basicAuth.password])
      .toString()
      .trim();
    writeFileSync(join(dir, 'htpasswd'), `${line}\n`);
    auth.push('auth:', '  htpasswd:', '    realm: criguard-test', `    path: ${join(dir, 'htpasswd')}`);
  }
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'storage')}`,
      '  delete:',
      '    enabled: true',
      ...auth,
      'http:',
      `  addr: ${host}`,
      '',
    ].join('\n'),
  );

  let daemon: Daemon | undefined;
  async function start(): Promise<void> {
    const d = spawnDaemon(REGISTRY_BIN, ['serve', config], { logFile: join(dir, 'registry.log') });
    daemon = d;
    const ready = opts.basicAuth === undefined ? 200 : 401;
    await waitFor(`registry on ${host}`, async () => (await fetch(`${url}/v2/`)).status === ready, {
      daemon: d,
    });
  }
  async function stop(): Promise<void> {
    await daemon?.stop();
    daemon = undefined;
  }
  let disposed = false;
  try {
    await start();
  } catch (err) {
    await stop();
    rmSync(dir, { recursive: true, force: true });
    unhook();
    throw err;
  }
  return {
    host,
    url,
    dir,
    stop,
    async restart() {
      await stop();
      await start();
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await stop();
      rmSync(dir, { recursive: true, force: true });
      unhook();
    },
  };
}
