/**
 * Calls lost while criguard restarts under load, before and after socket activation, in the same run
 * against a real containerd: a steady loop of Version/ListImages calls (two persistent clients, one that
 * reconnects every few calls) while criguard is restarted RESTARTS times
 * - "own socket": criguard creates its socket (the non-activated mode; what a Type=exec unit gives): a
 *   restart is stop, then start, and the socket is gone in between;
 * - "socket activation": systemd-socket-activate holds the socket (as criguard.socket does) and criguard
 *   is restarted behind it.
 * Prints calls, failed calls (by gRPC code) and the longest call. Run with `npx tsx bench/restart.bench.ts`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  startActivatedCriguard,
  startCallLoop,
  type CallFailure,
} from '../test/helpers/activated-criguard.js';
import { startCriguard } from '../test/helpers/criguard.js';
import { startLab } from '../test/helpers/lab.js';

const RESTARTS = Number(process.env.BENCH_RESTARTS ?? 3);
const SETTLE_MS = 1000;

function summary(name: string, calls: number, failures: CallFailure[], tookMs: number): string {
  const byCode = new Map<string, number>();
  for (const f of failures) {
    const key = `${f.code ?? '?'} ${f.details.slice(0, 60)}`;
    byCode.set(key, (byCode.get(key) ?? 0) + 1);
  }
  const codes = [...byCode].map(([k, n]) => `${n}× ${k}`).join('; ') || '-';
  return `${name.padEnd(18)} ${RESTARTS} restarts in ${(tookMs / 1000).toFixed(1)} s: ${calls} calls ok, ${failures.length} failed (${codes})`;
}

const lab = await startLab();
try {
  const upstream = lab.containerd.socket;
  const lines: string[] = [];

  // Before: criguard creates its own socket; a restart is stop + start.
  {
    const criguard = await startCriguard({ upstream, waitReady: true });
    const loop = startCallLoop(criguard.socket, { deadlineMs: 5000 });
    const started = performance.now();
    await sleep(SETTLE_MS);
    for (let i = 0; i < RESTARTS; i++) {
      await criguard.stop(30_000);
      await criguard.start();
      await sleep(SETTLE_MS);
    }
    const { calls, failures } = await loop.stop();
    lines.push(summary('own socket', calls, failures, performance.now() - started));
    await criguard.dispose();
  }

  // After: the socket is held across restarts.
  {
    const criguard = await startActivatedCriguard({ upstream });
    const loop = startCallLoop(criguard.socket, { deadlineMs: 5000 });
    const started = performance.now();
    await sleep(SETTLE_MS);
    for (let i = 0; i < RESTARTS; i++) {
      await criguard.restart();
      await sleep(SETTLE_MS);
    }
    const { calls, failures } = await loop.stop();
    lines.push(summary('socket activation', calls, failures, performance.now() - started));
    await criguard.dispose();
  }
  console.log(lines.join('\n'));
} finally {
  await lab.dispose();
}
