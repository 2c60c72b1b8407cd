/**
 * Memory of the daemon under load: RSS sampled every 100 ms (median and max, and how much of it is
 * anonymous memory versus pages of the executable mapped from its file) while criguard, with a policy
 * requiring a signature, serves
 *   1. passthrough calls (Version, ImageStatus, ListContainers of 50 containers) at concurrency 16, then
 *   2. the gated calls with a cached verdict (PullImage of a signed image by digest; CreateContainer, then
 *      an untimed RemoveContainer) at concurrency 4,
 * for the bundle on the Node running this script (with the systemd unit's NODE_OPTIONS) and for the
 * packaged executable (scripts/package.mjs, the pinned Node LTS), one after the other against the same
 * real containerd and registry. Run: `npm run bench:memory` (root, Debian: real containerd).
 * BENCH_MEMORY_VARIANTS="name=command args…;…" replaces the daemons measured (for trying runtime flags);
 * BENCH_MEMORY_PACKAGED=0 skips the executable (its build takes ~30 s when not cached).
 */
import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PodSandboxConfig } from '../test/helpers/cri-client.js';
import { decodeCriMessage, encodeCriMessage } from '../src/cri/proto.js';
import { startCriguard } from '../test/helpers/criguard.js';
import { pushImage } from '../test/helpers/images.js';
import { startLab } from '../test/helpers/lab.js';
import { packagedBinary } from '../test/helpers/sea.js';
import { attestor, criguardCli, keygen, writePolicy } from '../test/helpers/signing.js';

const LOAD_MS = Number(process.env.BENCH_LOAD_MS ?? 8000);
const IDLE_MS = 3000;
const CONTAINERS = 50;
const TARGET_MIB = 64;

interface Variant {
  readonly name: string;
  /** The executable; undefined: the bundle under this Node. */
  readonly binary?: string;
  readonly prefix: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

/** One sample of /proc/PID/smaps_rollup, in MiB. */
interface Sample {
  readonly rss: number;
  readonly anon: number;
  readonly file: number;
}

function rawClient(socket: string): grpc.Client {
  return new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 16 << 20,
    'grpc.default_authority': 'localhost',
    'grpc.use_local_subchannel_pool': 1,
  });
}

function call(client: grpc.Client, path: string, request: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      request,
      { deadline: Date.now() + 60_000 },
      (err, res) => (err ? reject(err) : resolve(res!)),
    ),
  );
}

function sample(pid: number): Sample {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  const rss = kib('Rss') / 1024;
  const anon = kib('Anonymous') / 1024;
  return { rss, anon, file: rss - anon };
}

/** Samples `pid` every 100 ms until `done` settles. */
async function sampled<T>(pid: number, done: Promise<T>): Promise<{ result: T; samples: Sample[] }> {
  const samples: Sample[] = [sample(pid)];
  let finished = false;
  void done.finally(() => (finished = true)).catch(() => undefined);
  while (!finished) {
    await Promise.race([sleep(100), done.catch(() => undefined)]);
    try {
      samples.push(sample(pid));
    } catch {
      break; // the daemon exited: the load reports why
    }
  }
  return { result: await done, samples };
}

/** Runs `concurrency` closed loops of `step` for `ms`; resolves to the number of steps done. */
async function closedLoops(
  concurrency: number,
  ms: number,
  step: (i: number) => Promise<void>,
): Promise<number> {
  let n = 0;
  const until = performance.now() + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < until) {
        await step(n + worker);
        n++;
      }
    }),
  );
  return n;
}

const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const mib = (x: number): string => x.toFixed(1).padStart(6);

function summary(samples: readonly Sample[]): string {
  const peak = samples.reduce((a, b) => (b.rss > a.rss ? b : a));
  return `${mib(median(samples.map((s) => s.rss)))} ${mib(peak.rss)} ${mib(Math.max(...samples.map((s) => s.anon)))} ${mib(peak.file)}`;
}

async function variants(): Promise<Variant[]> {
  const custom = process.env.BENCH_MEMORY_VARIANTS;
  if (custom) {
    return custom.split(';').map((spec) => {
      const at = spec.indexOf('=');
      const [command, ...args] = spec
        .slice(at + 1)
        .split(' ')
        .filter(Boolean);
      return { name: spec.slice(0, at), binary: command!, prefix: args, env: { PATH: process.env.PATH } };
    });
  }
  const unitOptions = /^Environment=NODE_OPTIONS=(.*)$/m.exec(
    readFileSync('systemd/criguard.service', 'utf8'),
  );
  const list: Variant[] = [
    {
      name: `bundle, node ${process.version} (unit NODE_OPTIONS)`,
      binary: process.execPath,
      prefix: ['dist/criguard.cjs'],
      env: { PATH: process.env.PATH, ...(unitOptions ? { NODE_OPTIONS: unitOptions[1] } : {}) },
    },
  ];
  if (process.env.BENCH_MEMORY_PACKAGED !== '0') {
    const pinned = /version: '([^']+)'/.exec(readFileSync('scripts/node-runtime.mjs', 'utf8'))?.[1] ?? '?';
    list.push({
      name: `packaged, node v${pinned}`,
      binary: (await packagedBinary()).path,
      prefix: [],
      env: {},
    });
  }
  return list;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'cgmem-'));
  const lab = await startLab();
  try {
    const key = await keygen(work, 'ci');
    const policyFile = join(work, 'policy.json');
    writePolicy(policyFile, {
      defaultAdmissionRule: {
        evaluationMode: 'REQUIRE_ATTESTATION',
        enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
        requireAttestationsBy: ['ci'],
      },
      attestors: [attestor('ci', [key])],
    });
    const image = await pushImage(lab.registry, { variant: `memory-${randomUUID()}` });
    const signed = await criguardCli(['sign', '--key', key.keyFile, '--push', image.digestRef]);
    if (signed.code !== 0) throw new Error(`sign --push: ${signed.stderr}`);
    await lab.cri.pullImage({ image: { image: image.digestRef } });
    const uid = randomUUID();
    const podConfig: PodSandboxConfig = {
      metadata: { name: 'memory', uid, namespace: 'default', attempt: 0 },
      log_directory: join(lab.containerd.dir, 'pods', uid),
      linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    mkdirSync(podConfig.log_directory!, { recursive: true });
    const { pod_sandbox_id } = await lab.cri.runPodSandbox({ config: podConfig });
    for (let i = 0; i < CONTAINERS; i++) {
      await lab.cri.createContainer({
        pod_sandbox_id,
        config: { metadata: { name: `c${i}` }, image: { image: image.digestRef }, log_path: `c${i}.log` },
        sandbox_config: podConfig,
      });
    }
    const passthrough: [string, Buffer][] = [
      ['/runtime.v1.RuntimeService/Version', encodeCriMessage('VersionRequest', { version: '0.1.0' })],
      [
        '/runtime.v1.ImageService/ImageStatus',
        encodeCriMessage('ImageStatusRequest', { image: { image: image.digestRef } }),
      ],
      ['/runtime.v1.RuntimeService/ListContainers', encodeCriMessage('ListContainersRequest', {})],
    ];
    const pullRequest = encodeCriMessage('PullImageRequest', {
      image: { image: image.digestRef },
      sandbox_config: podConfig,
    });
    const direct = rawClient(lab.containerd.socket);

    console.log(
      `daemon memory (policy requiring a signature): idle ${IDLE_MS / 1000} s, then ${LOAD_MS / 1000} s of passthrough ` +
        `calls at C=16, then ${LOAD_MS / 1000} s of cached PullImage + CreateContainer at C=4; RSS sampled every 100 ms`,
    );
    console.log(
      '"file" = pages of the executable mapped from its file (clean, shared with the page cache); "anon" = the heaps',
    );
    console.log(
      'variant                               idle RSS (anon)  | passthrough: RSS med   max  anon max  file |' +
        ' enforcement: RSS med   max  anon max  file | calls/s pass / gated',
    );
    for (const v of await variants()) {
      const criguard = await startCriguard({
        upstream: lab.containerd.socket,
        binary: v.binary,
        prefixArgs: v.prefix,
        env: v.env,
        extraArgs: [
          '--policy',
          policyFile,
          '--state-dir',
          join(work, `state-${randomUUID()}`),
          '--audit-log',
          join(work, 'audit.jsonl'),
          '--log-level',
          'warn',
          '--revalidate-interval',
          '0',
        ],
      });
      const client = rawClient(criguard.socket);
      try {
        const pid = criguard.daemon.pid;
        await call(client, '/runtime.v1.ImageService/PullImage', pullRequest); // verifies once, then cached
        await sleep(IDLE_MS);
        const idle = sample(pid);
        const pass = await sampled(
          pid,
          closedLoops(16, LOAD_MS, async (i) => {
            const [path, request] = passthrough[i % passthrough.length]!;
            await call(client, path, request);
          }),
        );
        let serial = 0;
        const gated = await sampled(
          pid,
          closedLoops(4, LOAD_MS, async (i) => {
            if (i % 2 === 0) {
              await call(client, '/runtime.v1.ImageService/PullImage', pullRequest);
              return;
            }
            const res = await call(
              client,
              '/runtime.v1.RuntimeService/CreateContainer',
              encodeCriMessage('CreateContainerRequest', {
                pod_sandbox_id,
                config: {
                  metadata: { name: `m${serial++}-${randomUUID()}` },
                  image: { image: image.configDigest, user_specified_image: image.digestRef },
                  command: ['/bin/sleep', '3600'],
                  log_path: `m${serial}.log`,
                },
                sandbox_config: podConfig,
              }),
            );
            const { container_id } = decodeCriMessage<{ container_id: string }>(
              'CreateContainerResponse',
              res,
            );
            await call(
              direct,
              '/runtime.v1.RuntimeService/RemoveContainer',
              encodeCriMessage('RemoveContainerRequest', { container_id }),
            );
          }),
        );
        console.log(
          `${v.name.padEnd(37)} ${mib(idle.rss)} (${mib(idle.anon).trim()})  |             ${summary(pass.samples)}  |` +
            `             ${summary(gated.samples)}  | ${(pass.result / (LOAD_MS / 1000)).toFixed(0).padStart(7)} / ${(
              gated.result /
              (LOAD_MS / 1000)
            ).toFixed(0)}`,
        );
      } finally {
        client.close();
        await criguard.dispose();
      }
    }
    direct.close();
    console.log(`target: RSS ≤ ${TARGET_MIB} MiB under both loads (issue 14)`);
  } finally {
    await lab.dispose();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
