/**
 * Enforcement cost benchmark: criguard (the bundled daemon as a child process) with a policy that requires
 * an attestor, signatures pushed to a real registry with `criguard sign --push`, in front of a real
 * containerd. Every comparison is interleaved in the same run (the machine is shared and noisy):
 *   1. PullImage (present image, by digest) and CreateContainer with a cached verdict: direct vs through
 *      criguard with the policy vs through criguard without a policy (transport only);
 *   2. a verified first pull (fresh signed digest) vs the same kind of pull straight to containerd;
 *   3. 200 concurrent pulls of one unverified digest: registry requests for its signature tag (counted
 *      by a small HTTP proxy in front of the registry), and Version/ListContainers latency meanwhile.
 * Run with `npx tsx bench/enforcement.bench.ts` (root, Debian: real containerd). Prints figures only.
 */
import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, Agent, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PodSandboxConfig } from '../test/helpers/cri-client.js';
import { decodeCriMessage, encodeCriMessage } from '../src/cri/proto.js';
import { startCriguard, type Criguard } from '../test/helpers/criguard.js';
import { onProcessExit } from '../test/helpers/exit-hooks.js';
import { pushImage, type PushedImage } from '../test/helpers/images.js';
import { startLab } from '../test/helpers/lab.js';
import { attestor, criguardCli, keygen, readAudit, writePolicy } from '../test/helpers/signing.js';

const N_PULL = Number(process.env.BENCH_PULLS ?? 200);
const N_CREATE = Number(process.env.BENCH_CREATES ?? 200);
const N_FIRST = Number(process.env.BENCH_FIRST_PULLS ?? 20);
const STORM = Number(process.env.BENCH_STORM ?? 200);
const STORMS = Number(process.env.BENCH_STORMS ?? 2);
const IDLE_MS = 2000;
const LIST_CONTAINERS = 20;

const PULL = '/runtime.v1.ImageService/PullImage';
const CREATE = '/runtime.v1.RuntimeService/CreateContainer';
const REMOVE = '/runtime.v1.RuntimeService/RemoveContainer';
const VERSION = '/runtime.v1.RuntimeService/Version';
const LIST = '/runtime.v1.RuntimeService/ListContainers';
const IMAGE_STATUS = '/runtime.v1.ImageService/ImageStatus';

/** A raw client on its own connection (grpc-js would otherwise share one per target). */
function rawClient(socket: string): grpc.Client {
  return new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 16 << 20,
    'grpc.default_authority': 'localhost',
    'grpc.use_local_subchannel_pool': 1,
  });
}

function call(client: grpc.Client, path: string, request: Buffer, deadlineMs = 120_000): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      request,
      { deadline: Date.now() + deadlineMs },
      (err, res) => (err ? reject(err) : resolve(res!)),
    ),
  );
}

/** Microseconds taken by one call. */
async function timed(client: grpc.Client, path: string, request: Buffer): Promise<number> {
  const t0 = performance.now();
  await call(client, path, request);
  return (performance.now() - t0) * 1000;
}

const pct = (xs: readonly number[], p: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const us = (x: number): string => `${x.toFixed(0).padStart(7)}µs`;
const ms = (x: number): string => `${(x / 1000).toFixed(1).padStart(6)}ms`;
const signed = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(0)}µs`.padStart(9);

/** Rotates the order of the sides each iteration so none always runs first (or right after another). */
function rotations<T>(sides: readonly T[], i: number): T[] {
  const k = i % sides.length;
  const order = [...sides.slice(k), ...sides.slice(0, k)];
  return Math.floor(i / sides.length) % 2 === 0 ? order : order.reverse();
}

/** An HTTP proxy in front of the registry that counts requests by path (for "how many verifications"). */
interface CountingProxy {
  readonly host: string;
  readonly requests: string[];
  close(): Promise<void>;
}

async function startCountingProxy(upstreamHost: string): Promise<CountingProxy> {
  const [hostname, port] = upstreamHost.split(':');
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url} ${req.headers['user-agent'] ?? ''}`);
    const upstream = httpRequest(
      { hostname, port: Number(port), method: req.method, path: req.url, headers: req.headers, agent },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const host = `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    host,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}

/** Sums the samples of a Prometheus metric whose name and labels match `pattern` (first capture: value). */
async function metric(criguard: Criguard, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${criguard.metricsUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = pattern.exec(line);
    if (m) sum += Number(m[1]);
  }
  return sum;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function main(): Promise<void> {
  const started = performance.now();
  const cleanups: Array<() => unknown> = [];
  const work = mkdtempSync(join(tmpdir(), 'cgeb-'));
  const unhook = onProcessExit(() => rmSync(work, { recursive: true, force: true }));
  cleanups.push(() => {
    rmSync(work, { recursive: true, force: true });
    unhook();
  });
  try {
    const keyP = keygen(work, 'ci');
    keyP.catch(() => undefined);
    const lab = await startLab();
    cleanups.push(() => lab.dispose());
    const key = await keyP;
    const policyFile = join(work, 'policy.json');
    writePolicy(policyFile, {
      defaultAdmissionRule: {
        evaluationMode: 'REQUIRE_ATTESTATION',
        enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
        requireAttestationsBy: ['ci'],
      },
      attestors: [attestor('ci', [key])],
    });
    const daemons = await Promise.allSettled([
      startCriguard({
        upstream: lab.containerd.socket,
        extraArgs: [
          '--policy',
          policyFile,
          '--state-dir',
          join(work, 'state'),
          '--audit-log',
          join(work, 'audit.jsonl'),
          '--log-level',
          'warn',
        ],
      }),
      startCriguard({ upstream: lab.containerd.socket, extraArgs: ['--log-level', 'warn'] }),
    ]);
    for (const d of daemons) if (d.status === 'fulfilled') cleanups.push(() => d.value.dispose());
    const [guarded, passthrough] = daemons.map((d) => {
      if (d.status === 'rejected') throw d.reason;
      return d.value;
    }) as [Criguard, Criguard];
    const direct = rawClient(lab.containerd.socket);
    const viaPolicy = rawClient(guarded.socket);
    const viaPassthrough = rawClient(passthrough.socket);
    cleanups.push(() => [direct, viaPolicy, viaPassthrough].forEach((c) => c.close()));

    const signPush = async (digestRef: string): Promise<void> => {
      const out = await criguardCli(['sign', '--key', key.keyFile, '--push', digestRef]);
      if (out.code !== 0) throw new Error(`sign --push ${digestRef}: ${out.stderr}`);
    };
    const sandbox = (name: string): PodSandboxConfig => {
      const uid = randomUUID();
      const logDirectory = join(lab.containerd.dir, 'pods', uid);
      mkdirSync(logDirectory, { recursive: true });
      return {
        metadata: { name, uid, namespace: 'default', attempt: 0 },
        log_directory: logDirectory,
        linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
      };
    };
    const pullRequest = (image: string, config: PodSandboxConfig): Buffer =>
      encodeCriMessage('PullImageRequest', { image: { image }, sandbox_config: config });

    console.log(
      `criguard enforcement benchmark (real containerd + registry; lab up in ${(lab.startupMs / 1000).toFixed(1)} s)`,
    );
    console.log('"policy" = criguard requiring attestor ci (cosign signatures in the registry);');
    console.log('"passthrough" = criguard without a policy (same proxy, no decision).');

    // ---- 1. Cached verdict: PullImage of a present image by digest, CreateContainer ----
    const image = await pushImage(lab.registry, { variant: `cached-${randomUUID()}` });
    await signPush(image.digestRef);
    const podConfig = sandbox('bench');
    const { pod_sandbox_id } = await lab.cri.runPodSandbox({ config: podConfig });
    const pullReq = pullRequest(image.digestRef, podConfig);
    const firstPull = await call(viaPolicy, PULL, pullReq); // verifies once: the verdict is now cached
    const imageRef = decodeCriMessage<{ image_ref: string }>('PullImageResponse', firstPull).image_ref;
    const sides = [
      { name: 'direct', client: direct },
      { name: 'passthrough', client: viaPassthrough },
      { name: 'policy', client: viaPolicy },
    ] as const;
    for (const s of sides) for (let i = 0; i < 5; i++) await call(s.client, PULL, pullReq); // warm up
    const pullLat = new Map<string, number[]>(sides.map((s) => [s.name, []]));
    // One containerd ImageStatus of the pulled image id: the look-up criguard adds to confirm each pull.
    const statusReq = encodeCriMessage('ImageStatusRequest', { image: { image: imageRef } });
    const statusLat: number[] = [];
    for (let i = 0; i < N_PULL; i++) {
      for (const s of rotations(sides, i)) pullLat.get(s.name)!.push(await timed(s.client, PULL, pullReq));
      statusLat.push(await timed(direct, IMAGE_STATUS, statusReq));
    }

    let serial = 0;
    const createReq = (side: string): Buffer =>
      encodeCriMessage('CreateContainerRequest', {
        pod_sandbox_id,
        config: {
          metadata: { name: `${side}-${serial++}` },
          image: { image: imageRef, user_specified_image: image.digestRef },
          command: ['/bin/sleep', '3600'],
          log_path: `c${serial}.log`,
        },
        sandbox_config: podConfig,
      });
    const createOnce = async (client: grpc.Client, side: string): Promise<number> => {
      const req = createReq(side);
      const t0 = performance.now();
      const res = await call(client, CREATE, req);
      const elapsed = (performance.now() - t0) * 1000;
      const { container_id } = decodeCriMessage<{ container_id: string }>('CreateContainerResponse', res);
      await call(direct, REMOVE, encodeCriMessage('RemoveContainerRequest', { container_id }));
      return elapsed;
    };
    for (const s of sides) for (let i = 0; i < 3; i++) await createOnce(s.client, s.name);
    const createLat = new Map<string, number[]>(sides.map((s) => [s.name, []]));
    for (let i = 0; i < N_CREATE; i++) {
      for (const s of rotations(sides, i)) createLat.get(s.name)!.push(await createOnce(s.client, s.name));
    }
    const cacheHitsAfter1 = await metric(guarded, /^criguard_verdict_cache_hits (\S+)/);

    console.log('');
    console.log(
      `1. Cached verdict, sequential calls interleaved direct/passthrough/policy (${N_PULL} pulls, ${N_CREATE} creates per side).`,
    );
    console.log(
      '   PullImage of a present image by digest (containerd still resolves it with the registry); CreateContainer',
    );
    console.log(
      '   in a running pod (remove untimed). "added" = criguard minus direct; policy-passthrough = decision cost.',
    );
    console.log(
      '   call             side          p50         p99     p50 added  p99 added   policy−passthrough p50/p99',
    );
    for (const [what, lat] of [
      ['PullImage', pullLat],
      ['CreateContainer', createLat],
    ] as const) {
      const d = lat.get('direct')!;
      const p = lat.get('passthrough')!;
      const g = lat.get('policy')!;
      for (const [side, xs] of [
        ['direct', d],
        ['passthrough', p],
        ['policy', g],
      ] as const) {
        const added =
          side === 'direct'
            ? ''.padStart(20)
            : `${signed(pct(xs, 50) - pct(d, 50))}  ${signed(pct(xs, 99) - pct(d, 99))}`;
        const decision =
          side === 'policy'
            ? `   ${signed(pct(g, 50) - pct(p, 50))} / ${signed(pct(g, 99) - pct(p, 99))}`
            : '';
        console.log(
          `   ${what.padEnd(16)} ${side.padEnd(12)} ${us(pct(xs, 50))} ${us(pct(xs, 99))}  ${added}${decision}`,
        );
      }
    }
    console.log(
      `   for scale: one ImageStatus of the image id straight to containerd (criguard's post-pull check) p50 ${us(
        pct(statusLat, 50),
      ).trim()} p99 ${us(pct(statusLat, 99)).trim()}; verdict cache hits so far: ${cacheHitsAfter1}`,
    );

    console.log(`   (section took ${((performance.now() - started) / 1000).toFixed(0)} s)`);
    const section2 = performance.now();

    // ---- 2. Verified first pull vs the same pull straight to containerd ----
    // Pushed one at a time: concurrent first uploads of the shared layer into a new repository race.
    const plainImages: PushedImage[] = [];
    const signedImages: PushedImage[] = [];
    for (let i = 0; i < N_FIRST; i++) {
      plainImages.push(
        await pushImage(lab.registry, { name: 'bench/first-a', variant: `a-${i}-${randomUUID()}` }),
      );
      signedImages.push(
        await pushImage(lab.registry, { name: 'bench/first-b', variant: `b-${i}-${randomUUID()}` }),
      );
    }
    await pool(signedImages, 3, (img) => signPush(img.digestRef));
    const firstDirect: number[] = [];
    const firstGuarded: number[] = [];
    for (let i = 0; i < N_FIRST; i++) {
      const a = pullRequest(plainImages[i]!.ref, podConfig);
      const b = pullRequest(signedImages[i]!.ref, podConfig);
      const runDirect = async () => firstDirect.push(await timed(direct, PULL, a));
      const runGuarded = async () => firstGuarded.push(await timed(viaPolicy, PULL, b));
      if (i % 2 === 0) {
        await runDirect();
        await runGuarded();
      } else {
        await runGuarded();
        await runDirect();
      }
    }
    const signedDigests = new Set(signedImages.map((im) => im.digest));
    const decisionMs = readAudit(join(work, 'audit.jsonl'))
      .filter((r) => r.method === 'PullImage' && (r.digests as string[]).some((d) => signedDigests.has(d)))
      .map((r) => r.latencyMs as number);
    const medD = pct(firstDirect, 50);
    const medG = pct(firstGuarded, 50);
    console.log('');
    console.log(
      `2. Verified first pull: ${N_FIRST} fresh signed images through criguard (policy) vs ${N_FIRST} fresh unsigned`,
    );
    console.log(
      '   images straight to containerd, alternating, pulled by tag (criguard resolves the tag, fetches the',
    );
    console.log(
      '   signature manifest + payload, looks for Sigstore bundles, verifies). All images share one busybox layer,',
    );
    console.log(
      '   so each pull moves only manifest + config: the worst case for the ratio (criguard work is fixed).',
    );
    console.log(
      `   median direct ${ms(medD)}  median via criguard ${ms(medG)}  ratio ${(medG / medD).toFixed(2)}  (target ≤ 1.2)` +
        `   p90 ${ms(pct(firstDirect, 90))} / ${ms(pct(firstGuarded, 90))}`,
    );
    console.log(
      `   criguard's own decision time for those pulls (audit latencyMs: resolve + 4 registry GETs + verify): median ${pct(
        decisionMs,
        50,
      )} ms, max ${Math.max(...decisionMs)} ms (${decisionMs.length} records)`,
    );

    console.log(`   (section took ${((performance.now() - section2) / 1000).toFixed(0)} s)`);
    const section3 = performance.now();

    // ---- 3. A storm of concurrent pulls of one unverified digest ----
    const proxy = await startCountingProxy(lab.registry.host);
    cleanups.push(() => proxy.close());
    // containerd reaches the proxy host over plain HTTP, like the registry itself.
    const hostsDir = join(lab.containerd.dir, 'certs.d', proxy.host);
    mkdirSync(hostsDir, { recursive: true });
    writeFileSync(
      join(hostsDir, 'hosts.toml'),
      `server = "http://${proxy.host}"\n\n[host."http://${proxy.host}"]\n  capabilities = ["pull", "resolve", "push"]\n`,
    );
    const listed = sandbox('list');
    const listedPod = await lab.cri.runPodSandbox({ config: listed });
    for (let i = 0; i < LIST_CONTAINERS; i++) {
      await lab.cri.createContainer({
        pod_sandbox_id: listedPod.pod_sandbox_id,
        config: { metadata: { name: `l${i}` }, image: { image: imageRef }, log_path: `l${i}.log` },
        sandbox_config: listed,
      });
    }
    const probeGuarded = rawClient(guarded.socket);
    const probeDirect = rawClient(lab.containerd.socket);
    cleanups.push(() => [probeGuarded, probeDirect].forEach((c) => c.close()));
    const probes = [
      { name: 'Version', path: VERSION, request: encodeCriMessage('VersionRequest', { version: '0.1.0' }) },
      {
        name: `ListContainers (${LIST_CONTAINERS + 1})`,
        path: LIST,
        request: encodeCriMessage('ListContainersRequest', {}),
      },
    ];
    type Window = 'idle' | 'storm';
    const probeLat = new Map<string, number[]>();
    const probeKey = (w: Window, probe: string, side: string) => `${w}|${probe}|${side}`;
    /** Probes in a closed loop (criguard then direct, each method) until `done` resolves. */
    const probeLoop = async (w: Window, done: Promise<unknown>): Promise<void> => {
      let finished = false;
      void done.finally(() => (finished = true));
      while (!finished) {
        for (const p of probes) {
          for (const [side, client] of [
            ['criguard', probeGuarded],
            ['direct', probeDirect],
          ] as const) {
            const k = probeKey(w, p.name, side);
            if (!probeLat.has(k)) probeLat.set(k, []);
            probeLat.get(k)!.push(await timed(client, p.path, p.request));
          }
        }
      }
    };
    const storms: Array<{
      sigRequests: number;
      criguardRegistryRequests: number;
      misses: number;
      decisions: number;
      ok: number;
      failed: number;
      wallMs: number;
      firstError?: string;
      through: 'criguard' | 'direct';
    }> = [];
    const stormClient = rawClient(guarded.socket);
    const stormDirect = rawClient(lab.containerd.socket);
    cleanups.push(() => [stormClient, stormDirect].forEach((c) => c.close()));
    // Even storms go through criguard; odd ones straight to containerd (same kind of fresh digest), for scale.
    for (let s = 0; s < STORMS; s++) {
      const through = s % 2 === 0 ? 'criguard' : 'direct';
      const fresh: PushedImage = await pushImage(lab.registry, {
        name: 'bench/storm',
        variant: `storm-${s}-${randomUUID()}`,
      });
      const viaProxy = `${proxy.host}/${fresh.name}@${fresh.digest}`;
      await signPush(viaProxy);
      await probeLoop('idle', new Promise((r) => setTimeout(r, IDLE_MS)));
      const sigPath = `/manifests/${fresh.digest.replace(':', '-')}.sig`;
      const before = proxy.requests.length;
      const missesBefore = await metric(guarded, /^criguard_verdict_cache_misses (\S+)/);
      const decisionsBefore = await metric(
        guarded,
        /^criguard_decisions_total\{method="PullImage".*\} (\S+)/,
      );
      const req = pullRequest(viaProxy, podConfig);
      const t0 = performance.now();
      let firstError: string | undefined;
      const results = Promise.allSettled(
        Array.from({ length: STORM }, () =>
          call(through === 'criguard' ? stormClient : stormDirect, PULL, req, 170_000),
        ),
      ).then((rs) => {
        for (const r of rs) if (r.status === 'rejected') firstError ??= String((r.reason as Error).message);
        return rs;
      });
      if (through === 'criguard') await probeLoop('storm', results);
      const settled = await results;
      const wallMs = performance.now() - t0;
      const during = proxy.requests.slice(before);
      storms.push({
        sigRequests: during.filter((r) => r.split(' ')[1]!.endsWith(sigPath)).length,
        criguardRegistryRequests: during.filter((r) => !/containerd/.test(r)).length,
        misses: (await metric(guarded, /^criguard_verdict_cache_misses (\S+)/)) - missesBefore,
        decisions:
          (await metric(guarded, /^criguard_decisions_total\{method="PullImage".*\} (\S+)/)) -
          decisionsBefore,
        ok: settled.filter((r) => r.status === 'fulfilled').length,
        failed: settled.filter((r) => r.status === 'rejected').length,
        wallMs,
        firstError,
        through,
      });
    }
    console.log('');
    console.log(
      `3. ${STORM} concurrent PullImage of one fresh signed digest through criguard (policy); storms alternate with`,
    );
    console.log(
      `   the same storm straight to containerd (wall time for scale). ${STORMS} storms, probes only during criguard's.`,
    );
    console.log(
      '   verifications = GETs of the digest\'s cosign ".sig" tag seen by an HTTP proxy in front of the registry.',
    );
    console.log(
      '   Meanwhile Version and ListContainers run in a closed loop on another connection, via criguard and direct.',
    );
    for (const [i, st] of storms.entries()) {
      if (st.through === 'direct') {
        console.log(
          `   storm ${i + 1} straight to containerd: pulls ok ${st.ok}, failed ${st.failed}; ${(st.wallMs / 1000).toFixed(1)} s`,
        );
        continue;
      }
      console.log(
        `   storm ${i + 1} through criguard: verifications: ${st.sigRequests}  (criguard registry requests ${st.criguardRegistryRequests}; ` +
          `pulls ok ${st.ok}, failed ${st.failed}; ${(st.wallMs / 1000).toFixed(1)} s; ` +
          `metrics: PullImage decisions +${st.decisions}, verdict cache misses +${st.misses})` +
          (st.firstError ? `\n     first error: ${st.firstError}` : ''),
      );
    }
    console.log('   probe            side        idle p50   idle p99  storm p50  storm p99   (n idle/storm)');
    for (const p of probes) {
      for (const side of ['criguard', 'direct']) {
        const idle = probeLat.get(probeKey('idle', p.name, side)) ?? [];
        const storm = probeLat.get(probeKey('storm', p.name, side)) ?? [];
        console.log(
          `   ${p.name.padEnd(16)} ${side.padEnd(9)} ${us(pct(idle, 50))} ${us(pct(idle, 99))} ${us(pct(storm, 50))} ${us(
            pct(storm, 99),
          )}   (${idle.length}/${storm.length})`,
        );
      }
    }
    console.log(`   (section took ${((performance.now() - section3) / 1000).toFixed(0)} s)`);
    console.log('');
    console.log(`total ${((performance.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (err) {
        console.error(`cleanup failed: ${(err as Error).message}`);
      }
    }
  }
}

await main();
