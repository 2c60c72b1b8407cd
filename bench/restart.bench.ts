/**
 * Calls lost while criguard restarts under load, before and after socket activation, in the same run
 * against a real containerd: a steady loop of Version/ListImages calls (two persistent clients, one that
 * reconnects every few calls) while criguard is restarted RESTARTS times
 * - "own socket": criguard creates its socket (the non-activated mode; what a Type=exec unit gives): a
 *   restart is stop, then start, and the socket is gone in between;
 * - "socket activation": systemd-socket-activate holds the socket (as criguard.socket does) and criguard
 *   is restarted behind it.
 * Prints calls and failed calls (by gRPC code). Also the start-up race: a client dialing every 5 ms from the
 * moment criguard is started (own socket) or the socket exists (activation) until Version answers.
 * Run with `npx tsx bench/restart.bench.ts`.
 */
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCriClient } from '../test/helpers/cri-client.js';
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

/** Dials every 5 ms until a connection is accepted; then one Version call. Failed dials and time to answer. */
async function firstAnswer(socket: string, since: number): Promise<string> {
  let failedDials = 0;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(socket);
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) break;
    failedDials++;
    await sleep(5);
  }
  const client = createCriClient(socket, { deadlineMs: 30_000 });
  await client.version({});
  client.close();
  return `${failedDials} failed dials (ENOENT/ECONNREFUSED: a kubelet exits at the first), first answer after ${Math.round(performance.now() - since)} ms`;
}

const lab = await startLab();
try {
  const upstream = lab.containerd.socket;
  const lines: string[] = [];

  {
    const since = performance.now();
    const criguard = await startCriguard({ upstream, waitReady: false });
    lines.push(`start-up, own socket:        ${await firstAnswer(criguard.socket, since)}`);
    await criguard.dispose();
  }
  {
    const criguard = await startActivatedCriguard({ upstream });
    lines.push(`start-up, socket activation: ${await firstAnswer(criguard.socket, performance.now())}`);
    await criguard.dispose();
  }

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
