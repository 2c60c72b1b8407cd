/**
 * Proxy overhead benchmark: unary CRI calls straight to a real containerd vs through criguard (the bundled
 * daemon as a child process), interleaved in the same run. Prints throughput ratio, added p50/p99
 * latency, criguard CPU per call and RSS. Run with `npm run bench` (root, Debian: real containerd).
 * BENCH_BASELINE_BUNDLE=path/to/an/earlier/criguard.cjs adds that build as a third side, interleaved in the
 * same rounds (a before/after comparison under the same machine load).
 */
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeCriMessage } from '../src/cri/proto.js';
import { freePort, spawnDaemon, waitFor } from '../test/helpers/daemon.js';
import { pushImage } from '../test/helpers/images.js';
import { startLab } from '../test/helpers/lab.js';

const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 1500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const CONTAINERS = 50;
const CLK_TCK = 100;
const BASELINE = process.env.BENCH_BASELINE_BUNDLE;

interface Scenario {
  name: string;
  path: string;
  request: Buffer;
}

function rawClient(socket: string): grpc.Client {
  return new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 16 << 20,
    'grpc.default_authority': 'localhost',
  });
}

function call(client: grpc.Client, path: string, request: Buffer): Promise<void> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      request,
      (err) => (err ? reject(err) : resolve()),
    ),
  );
}

/** Runs `concurrency` closed loops for `ms`; returns the per-call latencies in microseconds. */
async function load(client: grpc.Client, s: Scenario, concurrency: number, ms: number): Promise<number[]> {
  const latencies: number[] = [];
  const until = performance.now() + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const t0 = performance.now();
        await call(client, s.path, s.request);
        latencies.push((performance.now() - t0) * 1000);
      }
    }),
  );
  return latencies;
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

/** Read and write system calls made so far by `pid` (from /proc/PID/io). */
function syscalls(pid: number): number {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? 0);
  return field('syscr') + field('syscw');
}

function rssKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`));
  return Number(line?.split(/\s+/)[1] ?? 0);
}

const pct = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};

async function main(): Promise<void> {
  const lab = await startLab();
  const dir = mkdtempSync(join(tmpdir(), 'cgb-'));
  try {
    const image = await pushImage(lab.registry, { variant: 'bench' });
    await lab.cri.pullImage({ image: { image: image.ref } });
    const sandbox = {
      metadata: { name: 'bench', uid: 'bench-uid', namespace: 'default' },
      log_directory: join(dir, 'logs'),
      linux: { security_context: { namespace_options: { network: 'NODE' as const } } },
    };
    const { pod_sandbox_id } = await lab.cri.runPodSandbox({ config: sandbox });
    for (let i = 0; i < CONTAINERS; i++) {
      await lab.cri.createContainer({
        pod_sandbox_id,
        config: { metadata: { name: `c${i}` }, image: { image: image.ref }, log_path: `c${i}.log` },
        sandbox_config: sandbox,
      });
    }
    const startDaemon = async (bundle: string, name: string) => {
      const socket = join(dir, `${name}.sock`);
      const daemon = spawnDaemon(
        process.execPath,
        [
          ...(process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir=/tmp/cgprof'] : []),
          // As systemd/criguard.service runs it (NODE_OPTIONS); BENCH_NODE_FLAGS overrides.
          ...(process.env.BENCH_NODE_FLAGS ?? '--max-semi-space-size=1').split(' ').filter(Boolean),
          bundle,
          'serve',
          '--listen',
          socket,
          '--upstream',
          lab.containerd.socket,
          '--log-level',
          'warn',
          '--metrics-address',
          `127.0.0.1:${await freePort()}`,
        ],
        { logFile: join(dir, `${name}.log`) },
      );
      return { socket, daemon };
    };
    const { socket, daemon } = await startDaemon('dist/criguard.cjs', 'cg');
    const before = BASELINE ? await startDaemon(BASELINE, 'before') : undefined;
    const viaCriguard = rawClient(socket);
    const viaBefore = before ? rawClient(before.socket) : undefined;
    const direct = rawClient(lab.containerd.socket);
    for (const [client, d] of [
      [viaCriguard, daemon],
      ...(viaBefore && before ? [[viaBefore, before.daemon] as const] : []),
    ] as const) {
      await waitFor(
        'criguard',
        () => call(client, '/runtime.v1.RuntimeService/Version', Buffer.alloc(0)).then(() => true),
        { daemon: d },
      );
    }

    const only = process.env.BENCH_ONLY;
    const all: Scenario[] = [
      {
        name: 'Version',
        path: '/runtime.v1.RuntimeService/Version',
        request: encodeCriMessage('VersionRequest', { version: '0.1.0' }),
      },
      {
        name: 'ImageStatus',
        path: '/runtime.v1.ImageService/ImageStatus',
        request: encodeCriMessage('ImageStatusRequest', { image: { image: image.ref } }),
      },
      {
        name: `ListContainers (${CONTAINERS})`,
        path: '/runtime.v1.RuntimeService/ListContainers',
        request: encodeCriMessage('ListContainersRequest', {}),
      },
    ];
    const scenarios = only ? all.filter((s) => s.name.startsWith(only)) : all;
    console.log(
      `criguard proxy benchmark: ${ROUNDS} interleaved rounds of ${ROUND_MS} ms per side, real containerd`,
    );
    console.log(
      'scenario                  C   direct/s  criguard/s  ratio  p50 direct  p50 added  p99 added  criguard CPU/call  syscalls/call',
    );
    const proxies = [
      { name: 'criguard', client: viaCriguard, pid: daemon.pid },
      ...(viaBefore && before ? [{ name: 'before', client: viaBefore, pid: before.daemon.pid }] : []),
    ];
    for (const s of scenarios) {
      for (const concurrency of [1, 16]) {
        await load(direct, s, concurrency, 300); // warm every path
        for (const x of proxies) await load(x.client, s, concurrency, 300);
        const d: number[] = [];
        const per = proxies.map(() => ({ lat: [] as number[], ticks: 0, syscalls: 0 }));
        const sides = ['direct', ...proxies.map((x) => x.name)];
        for (let round = 0; round < ROUNDS; round++) {
          // Every side in turn, the order rotated and reversed between rounds.
          const k = round % sides.length;
          const rotated = [...sides.slice(k), ...sides.slice(0, k)];
          const order = Math.floor(round / sides.length) % 2 === 0 ? rotated : rotated.reverse();
          for (const side of order) {
            if (side === 'direct') {
              d.push(...(await load(direct, s, concurrency, ROUND_MS)));
              continue;
            }
            const i = proxies.findIndex((x) => x.name === side);
            const x = proxies[i]!;
            const acc = per[i]!;
            const ticksBefore = cpuTicks(x.pid);
            const sysBefore = syscalls(x.pid);
            acc.lat.push(...(await load(x.client, s, concurrency, ROUND_MS)));
            acc.ticks += cpuTicks(x.pid) - ticksBefore;
            acc.syscalls += syscalls(x.pid) - sysBefore;
          }
        }
        const seconds = (ROUNDS * ROUND_MS) / 1000;
        const dRate = d.length / seconds;
        proxies.forEach((x, i) => {
          const { lat: p, ticks, syscalls: calls } = per[i]!;
          const pRate = p.length / seconds;
          const cpuUs = ((ticks / CLK_TCK) * 1e6) / p.length;
          const label = x.name === 'criguard' ? s.name : `  ${x.name} (${BASELINE})`;
          console.log(
            `${label.padEnd(25)} ${String(concurrency).padStart(2)} ${dRate.toFixed(0).padStart(10)} ${pRate
              .toFixed(0)
              .padStart(
                11,
              )} ${(pRate / dRate).toFixed(2).padStart(6)} ${pct(d, 50).toFixed(0).padStart(9)}µs ${(
              pct(p, 50) - pct(d, 50)
            )
              .toFixed(0)
              .padStart(8)}µs ${(pct(p, 99) - pct(d, 99)).toFixed(0).padStart(8)}µs ${cpuUs
              .toFixed(0)
              .padStart(14)}µs ${(calls / p.length).toFixed(1).padStart(14)}`,
          );
        });
      }
    }
    console.log(
      `criguard RSS now ${(rssKiB(daemon.pid, 'VmRSS') / 1024).toFixed(1)} MiB, peak ${(rssKiB(daemon.pid, 'VmHWM') / 1024).toFixed(1)} MiB`,
    );
    console.log(
      'targets: ratio ≥ 0.65 at C=1 and ≥ 0.9 at C=16; p50 added ≤ 250 µs at C=1; CPU ≤ 150 µs/call; RSS ≤ 80 MiB',
    );
    if (before)
      console.log(
        `before RSS now ${(rssKiB(before.daemon.pid, 'VmRSS') / 1024).toFixed(1)} MiB, peak ${(rssKiB(before.daemon.pid, 'VmHWM') / 1024).toFixed(1)} MiB`,
      );
    viaCriguard.close();
    viaBefore?.close();
    direct.close();
    await daemon.stop();
    await before?.daemon.stop();
    await sleep(10);
  } finally {
    await lab.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
