/**
 * One call for an end-to-end test file: a registry, the pause image pushed to it, and a containerd that
 * pulls from it. Each ava test file (its own process) starts its own lab.
 */
import type { ExecutionContext, TestFn } from 'ava';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createCriClient, type CriClient, type PodSandboxConfig } from './cri-client.js';
import { startContainerd, type Containerd } from './containerd.js';
import { freePort } from './daemon.js';
import { busyboxLayer, PAUSE_NAME, PAUSE_TAG, pushPauseImage, type PushedImage } from './images.js';
import { startRegistry, type Registry } from './registry.js';

export interface Lab {
  registry: Registry;
  containerd: Containerd;
  pause: PushedImage;
  /** A CRI client connected directly to containerd (60 s default deadline); closed by `dispose()`. */
  cri: CriClient;
  /** Milliseconds the lab took to start. */
  startupMs: number;
  /** Tears down containerd (pods, shims, mounts, dir) then the registry. Idempotent. */
  dispose(): Promise<void>;
}

/**
 * Starts a lab: the registry and containerd start side by side (containerd only needs the pause image at
 * the first RunPodSandbox), the pause image is pushed as soon as the registry answers. With `t`, tears the
 * lab down when that test ends (`t.teardown` is not usable in hooks: see `useLab`).
 */
export async function startLab(t?: ExecutionContext): Promise<Lab> {
  const started = performance.now();
  void busyboxLayer(); // gzip in the background while the daemons start
  const port = await freePort();
  const registryHost = `127.0.0.1:${port}`;
  const registryUp = startRegistry({ port });
  const pushed = registryUp.then((r) => pushPauseImage(r));
  const containerdUp = startContainerd({
    registryHost,
    sandboxImage: `${registryHost}/${PAUSE_NAME}:${PAUSE_TAG}`,
  });
  const [r, p, c] = await Promise.allSettled([registryUp, pushed, containerdUp]);
  if (r.status === 'rejected' || p.status === 'rejected' || c.status === 'rejected') {
    if (c.status === 'fulfilled') await c.value.dispose();
    if (r.status === 'fulfilled') await r.value.dispose();
    throw [r, p, c].find((x): x is PromiseRejectedResult => x.status === 'rejected')?.reason;
  }
  const registry = r.value;
  const containerd = c.value;
  const cri = createCriClient(containerd.socket, { deadlineMs: 60_000 });
  const lab: Lab = {
    registry,
    containerd,
    pause: p.value,
    cri,
    startupMs: Math.round(performance.now() - started),
    async dispose() {
      cri.close();
      await containerd.dispose();
      await registry.dispose();
    },
  };
  t?.teardown(() => lab.dispose());
  return lab;
}

/**
 * Registers `before`/`after.always` hooks (ava runs a file's `before` hooks concurrently: don't use the lab
 * in another `before` hook) on `test` that start one lab for the whole file; returns a getter
 * for it (throws if called before the lab is up).
 */
export function useLab<Context>(test: TestFn<Context>): () => Lab {
  let lab: Lab | undefined;
  test.before(async () => {
    lab = await startLab();
  });
  test.after.always(async () => {
    await lab?.dispose();
  });
  return () => {
    if (!lab) throw new Error('lab not started (use it inside a test)');
    return lab;
  };
}

/**
 * Waits (up to 60 s) until `useLab`'s before hook has started the lab, for another `before` hook of the
 * same file (ava runs them concurrently). Rejects if it never comes up.
 */
export async function labReady(get: () => Lab): Promise<Lab> {
  for (let i = 0; i < 600; i++) {
    try {
      return get();
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return get();
}

/**
 * A pod sandbox config for the lab's containerd: host network (no CNI here), a fresh uid, and a log
 * directory inside the lab. The kubelet sends the same shape.
 */
export function podSandboxConfig(lab: Lab, namespace: string, name?: string): PodSandboxConfig {
  const uid = randomUUID();
  const logDirectory = join(lab.containerd.dir, 'pods', uid);
  mkdirSync(logDirectory, { recursive: true });
  return {
    metadata: { name: name ?? `pod-${uid.slice(0, 8)}`, uid, namespace, attempt: 0 },
    log_directory: logDirectory,
    linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
  };
}
