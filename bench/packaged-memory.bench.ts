/**
 * Memory of what ships: RSS of the packaged binary (Node 24, scripts/package.mjs) idle and after a
 * passthrough load, next to the same bundle packaged on the Node running this script (the baseline, with
 * the unit's NODE_OPTIONS), in the same run against the same real containerd.
 * Run: `npx tsx bench/packaged-memory.bench.ts` (root, Debian: real containerd).
 * BENCH_MEMORY_VARIANTS="name=command args…;…" replaces the daemons measured (for trying runtime flags).
 */
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeCriMessage } from '../src/cri/proto.js';
import { spawnDaemon, waitFor } from '../test/helpers/daemon.js';
import { pushImage } from '../test/helpers/images.js';
import { startLab } from '../test/helpers/lab.js';
import { packagedBinary } from '../test/helpers/sea.js';

const LOAD_MS = Number(process.env.BENCH_LOAD_MS ?? 8000);
const IDLE_MS = 3000;
const CONTAINERS = 50;

interface Variant {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
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

/** Closed loops at concurrency 16 over the passthrough calls for `ms`; returns the number of calls. */
async function load(client: grpc.Client, calls: [string, Buffer][], ms: number): Promise<number> {
  let n = 0;
  const until = performance.now() + ms;
  await Promise.all(
    Array.from({ length: 16 }, async (_, i) => {
      while (performance.now() < until) {
        const [path, request] = calls[(n + i) % calls.length]!;
        await call(client, path, request);
        n++;
      }
    }),
  );
  return n;
}

function status(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`));
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024;
}

async function variants(dir: string): Promise<Variant[]> {
  const custom = process.env.BENCH_MEMORY_VARIANTS;
  if (custom) {
    return custom.split(';').map((spec) => {
      const at = spec.indexOf('=');
      const [bin, ...args] = spec
        .slice(at + 1)
        .split(' ')
        .filter(Boolean);
      const name = spec.slice(0, at);
      return { name, command: bin!, args, env: { PATH: process.env.PATH } };
    });
  }
  const shipped = (await packagedBinary()).path;
  const baseline = join(dir, 'criguard-host-node');
  execFileSync(
    process.execPath,
    ['scripts/package.mjs', '--skip-build', '--node', process.execPath, '--out', baseline],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const pinned = /version: '([^']+)'/.exec(readFileSync('scripts/node-runtime.mjs', 'utf8'))?.[1] ?? '?';
  const unitOptions = /^Environment=NODE_OPTIONS=(.*)$/m.exec(
    readFileSync('systemd/criguard.service', 'utf8'),
  );
  return [
    { name: `packaged, v${pinned} (shipped)`, command: shipped, args: [], env: {} },
    {
      name: `packaged, ${process.version} (unit NODE_OPTIONS)`,
      command: baseline,
      args: [],
      env: unitOptions ? { NODE_OPTIONS: unitOptions[1] } : {},
    },
  ];
}

async function main(): Promise<void> {
  const lab = await startLab();
  const dir = mkdtempSync(join(tmpdir(), 'cgmem-'));
  try {
    const image = await pushImage(lab.registry, { variant: 'memory-bench' });
    await lab.cri.pullImage({ image: { image: image.ref } });
    const sandbox = {
      metadata: { name: 'bench', uid: 'bench-mem-uid', namespace: 'default' },
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
    const calls: [string, Buffer][] = [
      ['/runtime.v1.RuntimeService/Version', encodeCriMessage('VersionRequest', { version: '0.1.0' })],
      [
        '/runtime.v1.ImageService/ImageStatus',
        encodeCriMessage('ImageStatusRequest', { image: { image: image.ref } }),
      ],
      ['/runtime.v1.RuntimeService/ListContainers', encodeCriMessage('ListContainersRequest', {})],
    ];
    console.log(`packaged-binary memory: idle ${IDLE_MS} ms, then C=16 passthrough for ${LOAD_MS} ms`);
    console.log(
      'variant                                         idle RSS  after-load RSS  peak RSS   calls/s',
    );
    for (const v of await variants(dir)) {
      const socket = join(dir, `${v.name.replace(/\W+/g, '_')}.sock`);
      const daemon = spawnDaemon(
        v.command,
        [
          ...v.args,
          'serve',
          '--listen',
          socket,
          '--upstream',
          lab.containerd.socket,
          '--log-level',
          'warn',
          '--metrics-address',
          '127.0.0.1:0',
        ],
        { logFile: join(dir, 'criguard.log'), env: v.env },
      );
      const client = rawClient(socket);
      try {
        const [path, request] = calls[0]!;
        await waitFor('criguard', () => call(client, path, request).then(() => true), { daemon });
        await sleep(IDLE_MS);
        const idle = status(daemon.pid, 'VmRSS');
        const n = await load(client, calls, LOAD_MS);
        await sleep(500);
        const after = status(daemon.pid, 'VmRSS');
        const peak = status(daemon.pid, 'VmHWM');
        console.log(
          `${v.name.padEnd(46)} ${idle.toFixed(1).padStart(6)} MiB ${after.toFixed(1).padStart(10)} MiB ${peak
            .toFixed(1)
            .padStart(6)} MiB ${(n / (LOAD_MS / 1000)).toFixed(0).padStart(9)}`,
        );
      } finally {
        client.close();
        await daemon.stop();
      }
    }
    console.log('target: RSS ≤ 64 MiB (issue 14)');
  } finally {
    await lab.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
