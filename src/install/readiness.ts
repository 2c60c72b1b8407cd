import { setTimeout as sleep } from 'node:timers/promises';
import { InstallError } from './errors.js';

/** Asks once whether criguard is ready; resolves false on any failure (never throws). */
export type ReadinessProbe = () => Promise<boolean>;

/** A probe that GETs `http://ADDRESS/readyz` (criguard's metrics listener) and wants a 200. */
export function createHttpReadinessProbe(
  address: string,
  path = '/readyz',
  timeoutMs = 2000,
): ReadinessProbe {
  return async () => {
    try {
      const res = await fetch(`http://${address}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
      await res.body?.cancel();
      return res.status === 200;
    } catch {
      return false;
    }
  };
}

/**
 * Polls `probe` every `intervalMs` until it answers true. Throws CG_ERR_CRIGUARD_NOT_READY after
 * `timeoutMs`. The installer calls it before it points the kubelet at criguard (fail-safe: a criguard that
 * never gets ready leaves the kubelet on containerd).
 */
export async function waitUntilReady(
  probe: ReadinessProbe,
  timeoutMs: number,
  intervalMs = 500,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() >= deadline) {
      throw new InstallError('CG_ERR_CRIGUARD_NOT_READY', `criguard was not ready within ${timeoutMs} ms`);
    }
    await sleep(intervalMs);
  }
}
