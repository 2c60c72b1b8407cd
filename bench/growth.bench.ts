/**
 * Growth benchmark: how criguard's costs grow with the size of the node's world. One table, four parts,
 * each with its baseline (the smallest size, or a quiet window) measured in the same run:
 *   A. verdict cache at 1k / 10k / 100k persisted entries: the daemon's RSS and start-up time to ready with
 *      that state (vs no state), the save that runs every 10 s (it holds the event loop), and a look-up;
 *   B. policy with 100 / 1k / 10k namespace rules and allowlist patterns: load (parse, validate, compile)
 *      and evaluation per decision;
 *   C. re-validation sweeps over 10 / 100 / 1,000 running containers (vs 0): daemon CPU per sweep, and the
 *      latency of passthrough calls (Version) that overlap a sweep vs those that do not;
 *   D. 500 concurrent PullImage of distinct, new, signed digests: passthrough p99 during the storm vs quiet,
 *      the most registry requests criguard had in flight at once, and RSS.
 * The daemon is the bundle on this Node with the systemd unit's NODE_OPTIONS. C and D use a fake containerd
 * (bench/fake-containerd.ts, its own process): 1,000 real running containers, or containerd pulling 500
 * images, would measure containerd on this 2-core machine rather than criguard. D's images and cosign
 * signatures are real, in a real registry (docker-registry), fetched and verified by criguard.
 * Run: `npm run bench:growth` (root; the registry binary from scripts/setup.sh).
 * Switches: BENCH_GROWTH_ONLY=D (some parts only), BENCH_STORM_PULLS, BENCH_STORM_VERIFY_CONCURRENCY,
 * BENCH_STORM_BUNDLES=old.cjs,dist/criguard.cjs,… (D once per bundle over the same images: a before/after
 * on the same machine), BENCH_BUNDLE, BENCH_NODE_FLAGS (e.g. `--cpu-prof --cpu-prof-dir=DIR
 * --cpu-prof-interval=200`; map the profile with @jridgewell/trace-mapping against dist/criguard.cjs.map),
 * BENCH_DAEMON_LOG=FILE (keeps D's daemon output, e.g. with `--trace-gc`).
 */
import * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, Agent, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pushCosignSignature } from '../src/attestations/cosign-push.js';
import { VerdictCache, type CachedVerdict } from '../src/cache/verdict-cache.js';
import { createVerdictStore } from '../src/cache/verdict-store.js';
import { encodeCriMessage } from '../src/cri/proto.js';
import { evaluatePolicy } from '../src/policy/evaluate.js';
import { loadPolicy } from '../src/policy/load-policy.js';
import { createRegistryClient } from '../src/registry/registry-client.js';
import { loadSigningKey, signPayload } from '../src/signing/signing-key.js';
import { createCosignPayload } from '../src/verify/simple-signing.js';
import { startCriguard, type Criguard } from '../test/helpers/criguard.js';
import { cpuUs } from '../test/helpers/schedstat.js';
import { pushImage, type PushedImage } from '../test/helpers/images.js';
import { startRegistry } from '../test/helpers/registry.js';
import { attestor, keygen } from '../test/helpers/signing.js';
import type { FakeContainerdConfig } from './fake-containerd.js';

const CACHE_SIZES = [0, 1_000, 10_000, 100_000];
const POLICY_SIZES = [100, 1_000, 10_000];
const SWEEP_SIZES = (process.env.BENCH_SWEEP_SIZES ?? '0,10,100,1000').split(',').map(Number);
const STORM = Number(process.env.BENCH_STORM_PULLS ?? 500);
/** `--verify-concurrency` for D (the daemon's default when unset). */
const VERIFY_CONCURRENCY = process.env.BENCH_STORM_VERIFY_CONCURRENCY;
const RSS_TARGET_MIB = 64;
const BUNDLE = process.env.BENCH_BUNDLE ?? 'dist/criguard.cjs';
/**
 * D runs the storm once per bundle listed here, in order, over the same pushed images (each daemon starts
 * with no state, so every digest is new to it): e.g. `old.cjs,dist/criguard.cjs,old.cjs,dist/criguard.cjs`
 * for a before/after interleaved on the same machine. Default: BENCH_BUNDLE.
 */
const STORM_BUNDLES = (process.env.BENCH_STORM_BUNDLES ?? BUNDLE).split(',').filter(Boolean);
const VERSION = '/runtime.v1.RuntimeService/Version';
const LIST = '/runtime.v1.RuntimeService/ListContainers';
const PULL = '/runtime.v1.ImageService/PullImage';

// ---------- small tools ----------

const pct = (xs: readonly number[], p: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const median = (xs: readonly number[]): number => pct(xs, 50);
const f = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : '—');
const now = (): number => performance.timeOrigin + performance.now();

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

/** RSS and its anonymous part, MiB. */
function memory(pid: number): { rss: number; anon: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { rss: kib('Rss') / 1024, anon: kib('Anonymous') / 1024 };
}

/** CPU time of every thread of `pid` so far, ms. */
const cpuMs = (pid: number): number => cpuUs(pid) / 1000;

async function metric(criguard: Criguard, name: string): Promise<number> {
  const text = await (await fetch(`${criguard.metricsUrl}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

const digestOf = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;

const unitNodeOptions =
  /^Environment=NODE_OPTIONS=(.*)$/m.exec(readFileSync('systemd/criguard.service', 'utf8'))?.[1] ?? '';

/** The daemon (bundle) with `args`, not waiting for readiness. */
function daemon(upstream: string, args: string[], bundle = BUNDLE): Promise<Criguard> {
  return startCriguard({
    upstream,
    waitReady: false,
    env: { PATH: process.env.PATH, NODE_OPTIONS: unitNodeOptions },
    // BENCH_NODE_FLAGS adds runtime flags (e.g. --cpu-prof --cpu-prof-dir=DIR --cpu-prof-interval=200 for
    // a profile, --trace-gc with BENCH_DAEMON_LOG); BENCH_BUNDLE runs another build (e.g. a copy of the
    // previous one, for a before/after on the same machine).
    binary: process.execPath,
    prefixArgs: [...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean), bundle],
    extraArgs: ['--log-level', 'warn', ...args],
  });
}

/** Resolves when a Version call through criguard answers; ms since `t0`. */
async function ready(criguard: Criguard, t0: number): Promise<number> {
  const client = rawClient(criguard.socket);
  try {
    for (;;) {
      try {
        await call(client, VERSION, encodeCriMessage('VersionRequest', {}), 1000);
        return now() - t0;
      } catch (err) {
        if (now() - t0 > 120_000) throw err;
        const exited = await Promise.race([criguard.daemon.exited, sleep(5).then(() => undefined)]);
        if (exited !== undefined)
          throw new Error(`criguard exited: ${readFileSync(criguard.logFile, 'utf8')}`);
      }
    }
  } finally {
    client.close();
  }
}

interface FakeContainerd {
  readonly socket: string;
  readonly eventsFile: string;
  events(): Array<{ at: number; what: string }>;
  stop(): Promise<void>;
}

async function startFakeContainerd(dir: string, config: FakeContainerdConfig): Promise<FakeContainerd> {
  const configFile = join(dir, `fake-${randomUUID()}.json`);
  const eventsFile = join(dir, `events-${randomUUID()}.log`);
  writeFileSync(configFile, JSON.stringify(config));
  writeFileSync(eventsFile, '');
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'bench/fake-containerd.ts', configFile, eventsFile],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const socket = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /ready (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`fake containerd exited ${code}`)));
  });
  return {
    socket,
    eventsFile,
    events: () =>
      readFileSync(eventsFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const [at, what] = l.split(' ');
          return { at: Number(at), what: what! };
        }),
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}

// ---------- the policy, and persisted verdicts made for it ----------

function policyDocument(publicPem: string, extra: object = {}): object {
  return {
    defaultAdmissionRule: {
      evaluationMode: 'REQUIRE_ATTESTATION',
      enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      requireAttestationsBy: ['ci'],
    },
    attestors: [attestor('ci', [{ id: 'ci', publicPem, keyFile: '' }])],
    ...extra,
  };
}

interface BenchImage {
  readonly name: string;
  readonly digest: string;
  readonly id: string;
}

const benchImage = (i: number): BenchImage => ({
  name: `registry.bench.invalid/team-${i % 97}/app-${i}`,
  digest: digestOf(`manifest-${i}`),
  id: digestOf(`config-${i}`),
});

/** Allow verdicts as the daemon caches them for the default rule of `revision` (what a verification leaves). */
function verdictEntries(revision: string, images: readonly BenchImage[], expiresAt: number): CachedVerdict[] {
  return images.map((im) => ({
    key: `${revision}|default:|${im.name}|${im.digest}`,
    expiresAt,
    verdict: {
      decision: 'allow',
      wouldBe: 'allow',
      reason: 'ATTESTATIONS_SATISFIED',
      dryRun: false,
      enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      rule: { kind: 'default', key: undefined },
      satisfied: [{ attestor: 'ci', keyIds: ['ci'] }],
      missing: [],
      policyRevision: revision,
    },
  }));
}

// ---------- A. verdict cache ----------

interface CacheRow {
  readonly n: number;
  readonly loaded: number;
  readonly readyMs: number;
  readonly rss: number;
  readonly anon: number;
  readonly saveMs: number;
  readonly saveTotalMs: number;
  readonly loadMs: number;
  readonly lookupNs: number;
  readonly fileMiB: number;
}

async function verdictCacheRows(work: string, upstream: string, policyFile: string, revision: string) {
  const rows: CacheRow[] = [];
  for (const n of CACHE_SIZES) {
    const stateDir = join(work, `state-cache-${n}`);
    const store = createVerdictStore(stateDir);
    const entries = verdictEntries(
      revision,
      Array.from({ length: n }, (_, i) => benchImage(i)),
      Date.now() + 3_600_000,
    );
    store.save(entries);
    const t1 = performance.now();
    const cache = new VerdictCache({
      maxEntries: Math.max(n, 1),
      allowTtlMs: 86_400_000,
      denyTtlMs: 60_000,
      now: Date.now,
    });
    cache.restore(store.load().entries);
    const loadMs = performance.now() - t1;
    // The save the daemon does every 10 s when something changed, of what its cache holds: serialised on
    // the event loop (timed), then written and flushed off it (timed to the end).
    const t0 = performance.now();
    const saving = store.saveInBackground(cache.entries());
    const saveMs = performance.now() - t0;
    await saving;
    const saveTotalMs = performance.now() - t0;
    let lookupNs = NaN;
    if (n > 0) {
      const keys = entries.map((e) => e.key);
      const lookups = 200_000;
      let hits = 0;
      const t2 = process.hrtime.bigint();
      for (let i = 0; i < lookups; i++) if (cache.get(keys[(i * 7919) % n]!) !== undefined) hits++;
      lookupNs = Number(process.hrtime.bigint() - t2) / lookups;
      if (hits !== lookups) throw new Error(`look-ups missed: ${lookups - hits}`);
    }
    const fileMiB = n > 0 ? readFileSync(store.path).length / 2 ** 20 : 0;
    const start = now();
    const criguard = await daemon(upstream, [
      '--policy',
      policyFile,
      '--state-dir',
      stateDir,
      '--audit-log',
      join(work, 'audit-cache.jsonl'),
      '--cache-max-entries',
      String(Math.max(n, 10_000)),
      '--revalidate-interval',
      '0',
    ]);
    try {
      const readyMs = await ready(criguard, start);
      await sleep(1500);
      const { rss, anon } = memory(criguard.daemon.pid);
      const loaded = await metric(criguard, 'criguard_verdict_cache_entries');
      rows.push({ n, loaded, readyMs, rss, anon, saveMs, saveTotalMs, loadMs, lookupNs, fileMiB });
    } finally {
      await criguard.dispose();
    }
  }
  return rows;
}

// ---------- B. policy size ----------

function bigPolicy(n: number, publicPem: string): string {
  const rule = (i: number) =>
    i % 3 === 0
      ? { evaluationMode: 'ALWAYS_ALLOW', enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG' }
      : {
          evaluationMode: 'REQUIRE_ATTESTATION',
          enforcementMode: i % 3 === 1 ? 'ENFORCED_BLOCK_AND_AUDIT_LOG' : 'DRYRUN_AUDIT_LOG_ONLY',
          requireAttestationsBy: ['ci'],
        };
  const pattern = (i: number) => {
    switch (i % 4) {
      case 0:
        return { namePattern: `gcr.io/team-${i}/*` };
      case 1:
        return { namePattern: `registry-${i}.example.com/**` };
      case 2:
        return { namePattern: `gcr.io/org/app-${i}` };
      default:
        return { namePattern: `gcr.io/pinned/app-${i}@sha256:${i.toString(16).padStart(64, '0')}` };
    }
  };
  return JSON.stringify(
    policyDocument(publicPem, {
      kubernetesNamespaceAdmissionRules: Object.fromEntries(
        Array.from({ length: n }, (_, i) => [`ns-${i}`, rule(i)]),
      ),
      admissionWhitelistPatterns: Array.from({ length: n }, (_, i) => pattern(i)),
    }),
  );
}

async function policyRows(publicPem: string) {
  const rows: Array<{ n: number; loadMs: number; evalUs: number }> = [];
  for (const n of POLICY_SIZES) {
    const text = bigPolicy(n, publicPem);
    const loads: number[] = [];
    let policy = loadPolicy({ policy: { source: 'bench', text } });
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      policy = loadPolicy({ policy: { source: 'bench', text } });
      loads.push(performance.now() - t0);
    }
    const digest = `sha256:${'ab'.repeat(32)}`;
    const images = [
      { name: 'docker.io/library/nginx', digest },
      { name: `gcr.io/team-${4 * Math.floor(n / 8)}/svc`, digest },
      { name: `registry-${4 * Math.floor(n / 8) + 1}.example.com/a/b/c`, digest },
      { name: `gcr.io/org/app-${4 * Math.floor(n / 8) + 2}`, digest },
      { name: 'gcr.io/team-999999/deep/er/path', digest },
    ];
    const namespaces = Array.from({ length: 64 }, (_, i) => (i % 8 === 7 ? 'unknown' : `ns-${(i * 37) % n}`));
    const run = async (iterations: number) => {
      for (let i = 0; i < iterations; i++)
        await evaluatePolicy(policy, images[i % images.length]!, namespaces[i % namespaces.length], []);
    };
    await run(20_000);
    const iterations = 200_000;
    const t0 = process.hrtime.bigint();
    await run(iterations);
    rows.push({
      n,
      loadMs: median(loads),
      evalUs: Number(process.hrtime.bigint() - t0) / 1000 / iterations,
    });
  }
  return rows;
}

// ---------- C. re-validation sweeps ----------

async function sweepRows(work: string, policyFile: string, revision: string) {
  const rows: Array<{
    n: number;
    sweeps: number;
    cpuMsPerSweep: number;
    sweepMs: number;
    quiet: number[];
    during: number[];
    hits: number;
  }> = [];
  for (const n of SWEEP_SIZES) {
    const images = Array.from({ length: Math.min(n, 200) }, (_, i) => benchImage(i));
    const stateDir = join(work, `state-sweep-${n}`);
    createVerdictStore(stateDir).save(verdictEntries(revision, images, Date.now() + 3_600_000));
    const fake = await startFakeContainerd(work, {
      images: images.map((im) => ({ id: im.id, repoDigests: [`${im.name}@${im.digest}`] })),
      containers: Array.from({ length: n }, (_, i) => ({
        image: images[i % images.length]!.id,
        namespace: 'default',
      })),
    });
    const criguard = await daemon(fake.socket, [
      '--policy',
      policyFile,
      '--state-dir',
      stateDir,
      '--audit-log',
      join(work, 'audit-sweep.jsonl'),
      '--revalidate-interval',
      '1',
    ]);
    try {
      await ready(criguard, now());
      await sleep(2500); // the first sweeps
      const pid = criguard.daemon.pid;
      // CPU per sweep, with nothing else calling criguard.
      // At least 5 s and at least 3 sweep starts (a sweep of 1,000 containers may outlast 5 s), at most 90 s.
      const listed = () => fake.events().filter((e) => e.what === 'ListContainers').length;
      const before = listed();
      const cpu0 = cpuMs(pid);
      const windowStart = now();
      while (now() - windowStart < 5000 || (listed() - before < 3 && now() - windowStart < 90_000))
        await sleep(250);
      const cpu = cpuMs(pid) - cpu0;
      const sweeps = listed() - before;
      // Passthrough latency while sweeps come and go (C=1, closed loop).
      const client = rawClient(criguard.socket);
      const request = encodeCriMessage('VersionRequest', {});
      const probes: Array<{ start: number; end: number }> = [];
      const until = now() + 6000;
      while (now() < until) {
        const start = now();
        await call(client, VERSION, request);
        probes.push({ start, end: now() });
      }
      client.close();
      await sleep(200); // the fake writes its events every 50 ms
      const events = fake.events();
      const intervals: Array<[number, number]> = [];
      for (const e of events) {
        if (e.what === 'ListContainers') intervals.push([e.at, e.at]);
        else if (e.what === 'ImageStatus' && intervals.length > 0) intervals[intervals.length - 1]![1] = e.at;
      }
      const overlaps = (p: { start: number; end: number }) =>
        intervals.some(([a, b]) => p.start <= b + 1 && p.end >= a);
      rows.push({
        n,
        sweeps,
        cpuMsPerSweep: sweeps > 0 ? cpu / sweeps : NaN,
        sweepMs: median(intervals.map(([a, b]) => b - a)),
        quiet: probes.filter((p) => !overlaps(p)).map((p) => (p.end - p.start) * 1000),
        during: probes.filter(overlaps).map((p) => (p.end - p.start) * 1000),
        hits: await metric(criguard, 'criguard_verdict_cache_hits'),
      });
    } finally {
      await criguard.dispose();
      await fake.stop();
    }
  }
  return rows;
}

// ---------- D. a storm of distinct new digests ----------

interface CountingProxy {
  readonly host: string;
  readonly total: () => number;
  readonly maxInFlight: () => number;
  resetMax(): void;
  close(): Promise<void>;
}

/** An HTTP proxy in front of the registry that counts criguard's requests and how many were in flight at once. */
async function startCountingProxy(upstreamHost: string): Promise<CountingProxy> {
  const [hostname, port] = upstreamHost.split(':');
  const agent = new Agent({ keepAlive: true, maxSockets: 1024 });
  let inFlight = 0;
  let max = 0;
  let total = 0;
  const server: Server = createServer((req, res) => {
    total++;
    max = Math.max(max, ++inFlight);
    res.once('close', () => inFlight--);
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
  return {
    host: `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    total: () => total,
    maxInFlight: () => max,
    resetMax: () => (max = inFlight),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}

async function stormRows(work: string, keyFile: string, publicPem: string) {
  const registry = await startRegistry();
  const proxy = await startCountingProxy(registry.host);
  try {
    // Small images sharing one layer, pushed one at a time (first uploads of a shared layer race).
    const images: PushedImage[] = [];
    const pushStarted = performance.now();
    for (let i = 0; i < STORM; i++) {
      images.push(await pushImage(registry, { name: 'bench/storm', variant: `storm-${i}-${randomUUID()}` }));
    }
    const key = loadSigningKey(readFileSync(keyFile, 'utf8'), undefined);
    const signer = createRegistryClient({});
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < images.length) {
          const im = images[next++]!;
          const payload = createCosignPayload(`${registry.host}/${im.name}`, im.digest);
          await pushCosignSignature(
            signer,
            { name: `${registry.host}/${im.name}`, digest: im.digest },
            payload,
            signPayload(key, payload),
          );
        }
      }),
    );
    await signer.close();
    const setupS = (performance.now() - pushStarted) / 1000;
    // criguard reaches the registry through the counting proxy: the images are named by the proxy's host.
    const refs = images.map((im) => `${proxy.host}/${im.name}@${im.digest}`);
    const rows = [];
    for (const [run, bundle] of STORM_BUNDLES.entries()) {
      rows.push({ bundle, ...(await stormRun(work, run, bundle, images, refs, proxy, publicPem)), setupS });
    }
    return rows;
  } finally {
    await proxy.close();
    await registry.dispose();
  }
}

/** One storm through a fresh daemon (`bundle`, no state) over the pushed images. */
async function stormRun(
  work: string,
  run: number,
  bundle: string,
  images: PushedImage[],
  refs: string[],
  proxy: CountingProxy,
  publicPem: string,
) {
  {
    const fake = await startFakeContainerd(work, {
      images: images.map((im, i) => ({ id: im.configDigest, repoDigests: [refs[i]!] })),
      containers: Array.from({ length: 20 }, () => ({
        image: images[0]!.configDigest,
        namespace: 'default',
      })),
    });
    const policyFile = join(work, 'policy-storm.json');
    writeFileSync(policyFile, JSON.stringify(policyDocument(publicPem)), { mode: 0o600 });
    const criguard = await daemon(
      fake.socket,
      [
        '--policy',
        policyFile,
        '--state-dir',
        join(work, `state-storm-${run}`),
        '--audit-log',
        join(work, `audit-storm-${run}.jsonl`),
        '--revalidate-interval',
        '0',
        ...(VERIFY_CONCURRENCY === undefined ? [] : ['--verify-concurrency', VERIFY_CONCURRENCY]),
      ],
      bundle,
    );
    try {
      await ready(criguard, now());
      const pid = criguard.daemon.pid;
      const probeClients = { criguard: rawClient(criguard.socket), direct: rawClient(fake.socket) };
      const probes = [
        { name: 'Version', path: VERSION, request: encodeCriMessage('VersionRequest', {}) },
        { name: 'ListContainers (20)', path: LIST, request: encodeCriMessage('ListContainersRequest', {}) },
      ];
      const lat = new Map<string, number[]>();
      const probeLoop = async (window: string, done: () => boolean) => {
        while (!done()) {
          for (const p of probes) {
            for (const [side, client] of Object.entries(probeClients)) {
              const t0 = now();
              await call(client, p.path, p.request);
              const k = `${window}|${p.name}|${side}`;
              lat.set(k, [...(lat.get(k) ?? []), (now() - t0) * 1000]);
            }
          }
        }
      };
      const rss: number[] = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          rss.push(memory(pid).rss);
          await sleep(100);
        }
      })();
      const quietUntil = now() + 3000;
      await probeLoop('quiet', () => now() > quietUntil);
      const rssBefore = Math.max(...rss);
      proxy.resetMax();
      const requestsBefore = proxy.total();
      const stormClient = rawClient(criguard.socket);
      const cpuBefore = cpuMs(pid);
      const t0 = now();
      let stormDone = false;
      const storm = Promise.allSettled(
        refs.map((ref) =>
          call(stormClient, PULL, encodeCriMessage('PullImageRequest', { image: { image: ref } }), 170_000),
        ),
      ).finally(() => (stormDone = true));
      await probeLoop('storm', () => stormDone);
      const settled = await storm;
      const wallS = (now() - t0) / 1000;
      // The daemon's CPU for the storm (probes included): less sensitive to the machine's load than latency.
      const stormCpuMs = cpuMs(pid) - cpuBefore;
      const loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
      const rssStorm = Math.max(...rss.slice(rss.length - Math.ceil(wallS * 10) - 1));
      sampling = false;
      await sampler;
      stormClient.close();
      Object.values(probeClients).forEach((c) => c.close());
      const failed = settled.filter((r) => r.status === 'rejected');
      return {
        ok: settled.length - failed.length,
        failed: failed.length,
        firstError: failed.length > 0 ? String((failed[0] as PromiseRejectedResult).reason) : undefined,
        // Failures by cause: the queue (busy: full, or the budget spent waiting) or the budget while verifying.
        busy: failed.filter((r) => /too many images/.test(String((r as PromiseRejectedResult).reason)))
          .length,
        wallS,
        stormCpuMs,
        loadAverage,
        registryRequests: proxy.total() - requestsBefore,
        maxInFlight: proxy.maxInFlight(),
        rssBefore,
        rssStorm,
        probes: probes.map((p) => ({
          name: p.name,
          sides: Object.keys(probeClients).map((side) => ({
            side,
            quiet: lat.get(`quiet|${p.name}|${side}`) ?? [],
            storm: lat.get(`storm|${p.name}|${side}`) ?? [],
          })),
        })),
      };
    } finally {
      // BENCH_DAEMON_LOG: keep the storm daemon's output (e.g. its --trace-gc lines) there.
      if (process.env.BENCH_DAEMON_LOG) copyFileSync(criguard.logFile, process.env.BENCH_DAEMON_LOG);
      await criguard.dispose();
      await fake.stop();
    }
  }
}

// ---------- main ----------

async function main(): Promise<void> {
  const started = performance.now();
  const work = mkdtempSync(join(tmpdir(), 'cggrowth-'));
  try {
    const key = await keygen(work, 'ci');
    const policyText = JSON.stringify(policyDocument(key.publicPem));
    const policyFile = join(work, 'policy.json');
    writeFileSync(policyFile, policyText, { mode: 0o600 });
    const revision = loadPolicy({ policy: { source: policyFile, text: policyText } }).revision;
    const only = process.env.BENCH_GROWTH_ONLY; // e.g. "A,C"
    const wanted = (part: string) => only === undefined || only.split(',').includes(part);

    console.log(
      `criguard growth benchmark (bundle on node ${process.version}, NODE_OPTIONS=${unitNodeOptions})`,
    );
    if (wanted('A')) {
      const fake = await startFakeContainerd(work, { images: [], containers: [] });
      try {
        const rows = await verdictCacheRows(work, fake.socket, policyFile, revision);
        const base = rows[0]!;
        console.log('');
        console.log(
          'A. verdict cache: N persisted verdicts (MAC-checked state file), daemon restarted on it',
        );
        console.log(
          '   entries  loaded  state file  ready ms (×none)  RSS MiB (anon)  +RSS vs none  save ms: event loop / total  load ms  look-up ns',
        );
        for (const r of rows) {
          console.log(
            `   ${String(r.n).padStart(7)} ${String(r.loaded).padStart(7)} ${f(r.fileMiB).padStart(7)} MiB` +
              ` ${f(r.readyMs, 0).padStart(8)} (${f(r.readyMs / base.readyMs, 2)})` +
              ` ${f(r.rss).padStart(8)} (${f(r.anon)})  ${f(r.rss - base.rss).padStart(8)}` +
              ` ${f(r.saveMs).padStart(14)} / ${f(r.saveTotalMs).padEnd(8)} ${f(r.loadMs).padStart(10)} ${f(r.lookupNs, 0).padStart(10)}`,
          );
        }
      } finally {
        await fake.stop();
      }
    }
    if (wanted('B')) {
      const rows = await policyRows(key.publicPem);
      console.log('');
      console.log(
        'B. policy: N namespace rules + N allowlist patterns (in process: parse, validate, compile; evaluate)',
      );
      console.log('   rules    load ms (×100)   evaluate µs/decision (×100)');
      for (const r of rows) {
        console.log(
          `   ${String(r.n).padStart(6)} ${f(r.loadMs).padStart(9)} (${f(r.loadMs / rows[0]!.loadMs, 1)})` +
            ` ${f(r.evalUs, 2).padStart(14)} (${f(r.evalUs / rows[0]!.evalUs, 2)})`,
        );
      }
    }
    if (wanted('C')) {
      const rows = await sweepRows(work, policyFile, revision);
      console.log('');
      console.log(
        'C. re-validation every 1 s over N running containers (fake containerd; verdicts cached, min(N,200) images);',
      );
      console.log(
        '   Version through criguard (C=1) overlapping a sweep vs not. Target: a sweep delays a call ≤ 1 ms.',
      );
      console.log(
        '   containers  sweeps  CPU ms/sweep  sweep ms   quiet p50/p99/max µs     during p50/p99/max µs (n)   p99 added  cache hits',
      );
      for (const r of rows) {
        console.log(
          `   ${String(r.n).padStart(10)} ${String(r.sweeps).padStart(7)} ${f(r.cpuMsPerSweep, 2).padStart(12)} ${f(r.sweepMs).padStart(9)}` +
            `   ${f(median(r.quiet), 0)}/${f(pct(r.quiet, 99), 0)}/${f(Math.max(...r.quiet), 0)}`.padEnd(25) +
            `   ${f(median(r.during), 0)}/${f(pct(r.during, 99), 0)}/${f(Math.max(...r.during), 0)} (${r.during.length})`.padEnd(
              30,
            ) +
            `${f(pct(r.during, 99) - pct(r.quiet, 99), 0).padStart(8)} µs ${String(r.hits).padStart(10)}`,
        );
      }
    }
    if (wanted('D')) {
      for (const r of await stormRows(work, key.keyFile, key.publicPem)) {
        console.log('');
        if (STORM_BUNDLES.length > 1) console.log(`daemon ${r.bundle}`);
        console.log(
          `D. ${STORM} concurrent PullImage of distinct new signed digests through criguard (real registry, fake containerd;`,
        );
        console.log(
          `   images pushed and signed in ${f(r.setupS, 0)} s). Probes on another connection, via criguard and straight to the fake.`,
        );
        console.log(
          `   pulls ok ${r.ok}, failed ${r.failed} in ${f(r.wallS)} s; criguard's registry requests ${r.registryRequests}, ` +
            `at most ${r.maxInFlight} in flight at once; verifyConcurrency ${VERIFY_CONCURRENCY ?? 'default'}`,
        );
        console.log(
          `   daemon CPU during the storm ${f(r.stormCpuMs / 1000, 2)} s (${f(r.stormCpuMs / STORM, 1)} ms per pull, ` +
            `${f(r.stormCpuMs / 10 / r.wallS, 0)}% of one core); load average ${r.loadAverage} at its end`,
        );
        console.log(
          `   failed for want of a verification slot (CG_ERR_VERIFY_BUSY): ${r.busy} of ${r.failed}`,
        );
        if (r.firstError) console.log(`   first error: ${r.firstError}`);
        console.log(
          `   RSS max ${f(r.rssBefore)} MiB before, ${f(r.rssStorm)} MiB during the storm (target ≤ ${RSS_TARGET_MIB} + 20)`,
        );
        console.log(
          '   probe                side       quiet p50/p99 µs   storm p50/p99 µs   storm p99 / quiet p99 (target ≤ 2)',
        );
        for (const p of r.probes) {
          for (const s of p.sides) {
            console.log(
              `   ${p.name.padEnd(20)} ${s.side.padEnd(9)} ${`${f(median(s.quiet), 0)}/${f(pct(s.quiet, 99), 0)}`.padStart(17)}` +
                ` ${`${f(median(s.storm), 0)}/${f(pct(s.storm, 99), 0)}`.padStart(18)}` +
                ` ${f(pct(s.storm, 99) / pct(s.quiet, 99), 2).padStart(12)}   (n ${s.quiet.length}/${s.storm.length})`,
            );
          }
        }
      }
    }
    console.log('');
    console.log(`total ${f((performance.now() - started) / 1000, 0)} s`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
