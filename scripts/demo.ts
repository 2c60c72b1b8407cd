/**
 * The criguard demo: a private registry and containerd (the test lab), criguard in front of containerd as
 * a child process, and the kubelet's calls for one pod sent through criguard's socket, each printed with
 * what was sent, what came back and how long it took. Run by `scripts/demo.sh`.
 *
 * To add a step, add an entry to `steps()`: `call(title, method, request)` for a CRI call, with `expect`
 * for a call that must fail, or `note(title, fn)` for anything else.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ServiceError } from '@grpc/grpc-js';
import {
  createCriClient,
  FAST_RECONNECT,
  type CriClient,
  type CriServiceName,
  type PodSandboxConfig,
} from '../src/cri/client.js';
import { spawnDaemon, waitFor, logTail, type Daemon } from '../test/helpers/daemon.js';
import { pushImage, type PushedImage } from '../test/helpers/images.js';
import { startLab, type Lab } from '../test/helpers/lab.js';

const DEFAULT_CRIGUARD = 'dist/criguard.cjs';

/** What the steps share: the lab, the client on criguard's socket, and values earlier steps found. */
interface DemoContext {
  lab: Lab;
  cri: CriClient;
  image: PushedImage;
  sandbox: PodSandboxConfig;
  podId: string;
  imageId: string;
  containerId: string;
}

interface Step {
  title: string;
  /** Returns what to print as sent and received. Throws to fail the demo. */
  run(ctx: DemoContext): Promise<{ sent?: unknown; received?: unknown }>;
}

const tty = process.stdout.isTTY;
const paint = (code: string, s: string): string => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = (s: string) => paint('1', s);
const dim = (s: string) => paint('2', s);
const green = (s: string) => paint('32', s);
const red = (s: string) => paint('31', s);

/** Drops what proto3 would not send (null, '', empty lists and maps) so the output shows only real values. */
function compact(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return `<${value.length} bytes>`;
  if (Array.isArray(value)) return value.map(compact);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const c = compact(v);
      const empty =
        c === null || c === undefined || c === '' || (typeof c === 'object' && Object.keys(c).length === 0);
      if (!empty) out[k] = c;
    }
    return out;
  }
  return value;
}

function show(value: unknown, max = 600): string {
  const text = JSON.stringify(compact(value)) ?? 'undefined';
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}

/** A step that makes one CRI call through criguard; `expect` makes it a call that must fail with that code. */
function call<Req extends object>(
  title: string,
  service: CriServiceName,
  method: string,
  request: (ctx: DemoContext) => Req,
  after?: (ctx: DemoContext, response: Record<string, unknown>) => void,
  expect?: { code: number },
): Step {
  return {
    title: `${title} ${dim(`(${service}/${method})`)}`,
    async run(ctx) {
      const sent = request(ctx);
      try {
        const received = await ctx.cri.unary<Record<string, unknown>>(service, method, sent);
        if (expect) throw new Error(`expected gRPC code ${expect.code}, got OK`);
        after?.(ctx, received);
        return { sent, received };
      } catch (err) {
        const e = err as ServiceError;
        if (!expect || e.code !== expect.code) throw err;
        return { sent, received: { code: e.code, details: e.details } };
      }
    },
  };
}

function note(title: string, fn: (ctx: DemoContext) => Promise<unknown>): Step {
  return { title, run: async (ctx) => ({ received: await fn(ctx) }) };
}

/** The demo, in order. */
function steps(): Step[] {
  return [
    call('Ask the runtime for its version', 'RuntimeService', 'Version', () => ({ version: 'v1' })),
    call('Check the runtime is ready', 'RuntimeService', 'Status', () => ({})),
    call('Image filesystem usage (kubelet start-up)', 'ImageService', 'ImageFsInfo', () => ({})),
    call(
      'Start a pod sandbox (host network, no CNI)',
      'RuntimeService',
      'RunPodSandbox',
      (c) => ({ config: c.sandbox }),
      (c, r) => (c.podId = String(r['pod_sandbox_id'])),
    ),
    call('Is the image already there?', 'ImageService', 'ImageStatus', (c) => ({
      image: { image: c.image.ref },
    })),
    call(
      'Pull the image',
      'ImageService',
      'PullImage',
      (c) => ({ image: { image: c.image.ref }, sandbox_config: c.sandbox }),
      (c, r) => (c.imageId = String(r['image_ref'])),
    ),
    call('Image status after the pull', 'ImageService', 'ImageStatus', (c) => ({
      image: { image: c.image.ref },
    })),
    call(
      'Create the container',
      'RuntimeService',
      'CreateContainer',
      (c) => ({
        pod_sandbox_id: c.podId,
        config: {
          metadata: { name: 'hello', attempt: 0 },
          image: { image: c.imageId, user_specified_image: c.image.ref },
          command: ['/bin/sh', '-c', 'echo hello from a container behind criguard; exec sleep 3600'],
          log_path: 'hello/0.log',
        },
        sandbox_config: c.sandbox,
      }),
      (c, r) => (c.containerId = String(r['container_id'])),
    ),
    call('Start the container', 'RuntimeService', 'StartContainer', (c) => ({ container_id: c.containerId })),
    call('Container status', 'RuntimeService', 'ContainerStatus', (c) => ({ container_id: c.containerId })),
    note('Read the container log', async (c) => {
      const file = join(c.sandbox.log_directory ?? '', 'hello/0.log');
      await waitFor('container log', async () => readFileSync(file, 'utf8').includes('hello'), {
        timeoutMs: 10_000,
      });
      return readFileSync(file, 'utf8').trim();
    }),
    call('List the pod’s containers', 'RuntimeService', 'ListContainers', (c) => ({
      filter: { pod_sandbox_id: c.podId },
    })),
    call('Stop the container', 'RuntimeService', 'StopContainer', (c) => ({
      container_id: c.containerId,
      timeout: 0,
    })),
    call('Remove the container', 'RuntimeService', 'RemoveContainer', (c) => ({
      container_id: c.containerId,
    })),
    call('Stop the pod', 'RuntimeService', 'StopPodSandbox', (c) => ({ pod_sandbox_id: c.podId })),
    call('Remove the pod', 'RuntimeService', 'RemovePodSandbox', (c) => ({ pod_sandbox_id: c.podId })),
  ];
}

/** Starts `criguard serve` on a socket in `dir` and waits until it answers Version through to containerd. */
async function startCriguard(
  bundle: string,
  dir: string,
  upstream: string,
  logLevel: string,
): Promise<{ daemon: Daemon; socket: string }> {
  const socket = join(dir, 'criguard.sock');
  const args = [bundle, 'serve', '--listen', socket, '--upstream', upstream, '--log-level', logLevel];
  console.log(`${bold('criguard')}: node ${args.join(' ')}`);
  const daemon = spawnDaemon(process.execPath, args, { logFile: join(dir, 'criguard.log') });
  const probe = createCriClient(socket, { deadlineMs: 1000, channelOptions: FAST_RECONNECT });
  try {
    await waitFor('criguard answering Version', async () => Boolean((await probe.version({})).runtime_name), {
      daemon,
      timeoutMs: 15_000,
    });
  } finally {
    probe.close();
  }
  return { daemon, socket };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'log-level': { type: 'string', default: 'info' },
      'show-log': { type: 'boolean', default: false },
      criguard: { type: 'string', default: DEFAULT_CRIGUARD },
    },
  });
  const bundle = values.criguard ?? DEFAULT_CRIGUARD;
  if (!existsSync(bundle)) {
    console.error(`demo: ${bundle} is missing; run "bash scripts/setup.sh" (or npm run demo)`);
    return 1;
  }
  console.log(bold('criguard demo: a pod through criguard to a real containerd\n'));
  const work = mkdtempSync('/tmp/cgd-');
  let lab: Lab | undefined;
  let criguard: Daemon | undefined;
  let cri: CriClient | undefined;
  let failed = false;
  let stepFailed = false;
  try {
    lab = await startLab();
    console.log(
      `${bold('lab')}: registry ${lab.registry.host}, containerd ${lab.containerd.socket} (${lab.startupMs} ms)`,
    );
    const image = await pushImage(lab.registry, { name: 'demo/hello', tag: 'v1' });
    console.log(
      `${bold('image')}: ${image.ref}\n       manifest ${image.digest}\n       config   ${image.configDigest}`,
    );
    const started = await startCriguard(bundle, work, lab.containerd.socket, values['log-level'] ?? 'info');
    criguard = started.daemon;
    cri = createCriClient(started.socket, { deadlineMs: 120_000 });
    const logDirectory = join(work, 'pods', 'demo');
    mkdirSync(logDirectory, { recursive: true });
    const ctx: DemoContext = {
      lab,
      cri,
      image,
      sandbox: {
        metadata: { name: 'demo', uid: 'demo-uid-1', namespace: 'default', attempt: 0 },
        log_directory: logDirectory,
        linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
      },
      podId: '',
      imageId: '',
      containerId: '',
    };
    const all = steps();
    for (const [i, step] of all.entries()) {
      console.log(`\n${bold(`[${i + 1}/${all.length}]`)} ${step.title}`);
      const t0 = performance.now();
      try {
        const { sent, received } = await step.run(ctx);
        const ms = (performance.now() - t0).toFixed(0);
        if (sent !== undefined) console.log(`  ${dim('→')} ${show(sent)}`);
        console.log(`  ${dim('←')} ${show(received)}`);
        console.log(`  ${green('ok')} ${dim(`${ms} ms`)}`);
      } catch (err) {
        const e = err as Partial<ServiceError> & Error;
        console.log(
          `  ${red('FAILED')}: ${e.code !== undefined ? `gRPC code ${e.code}: ${e.details}` : e.message}`,
        );
        failed = stepFailed = true;
        break;
      }
    }
  } catch (err) {
    console.error(red(`demo: ${(err as Error).message}`));
    failed = true;
  } finally {
    cri?.close();
    await criguard?.stop();
    if (stepFailed || values['show-log']) {
      console.log(`\n${logTail(join(work, 'criguard.log'), stepFailed ? 30 : 200) || 'criguard: no log'}`);
    }
    await lab?.dispose();
    rmSync(work, { recursive: true, force: true });
  }
  console.log(failed ? red('\ndemo failed') : green('\ndemo finished: everything cleaned up'));
  return failed ? 1 : 0;
}

process.exitCode = await main();
