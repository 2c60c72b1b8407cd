/**
 * The criguard demo: a private registry and containerd (the test lab), criguard in front of containerd as
 * a child process with a policy, and the kubelet's calls sent through criguard's socket, each printed with
 * what was sent, what came back and how long it took. Run by `scripts/demo.sh`.
 *
 * Everything is set up here, with criguard's own CLI: a signing key (`criguard keygen`), a policy (default
 * rule: attestation by `ci` required; `kube-system` always allowed; `staging` in dry run), two images in
 * the registry, one signed (`criguard sign --push`). The scenes: the signed image runs; the unsigned one is
 * denied at PullImage (shown as `kubectl describe pod` would show it); pulled behind criguard's back it is
 * denied at CreateContainer; in `staging` it is admitted in dry run. Then the audit log and the metrics.
 *
 * To add a step, add an entry to `steps()`: `call(title, method, request)` for a CRI call, with `expect`
 * for a call that must be denied, `note(title, fn)` for anything else, a string for a scene heading.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import type { ServiceError } from '@grpc/grpc-js';
import {
  createCriClient,
  FAST_RECONNECT,
  type CriClient,
  type CriServiceName,
  type PodSandboxConfig,
} from '../test/helpers/cri-client.js';
import { freePort, spawnDaemon, waitFor, logTail, type Daemon } from '../test/helpers/daemon.js';
import { pushImage, type PushedImage } from '../test/helpers/images.js';
import { onProcessExit } from '../test/helpers/exit-hooks.js';
import { startLab, type Lab } from '../test/helpers/lab.js';

const execFileAsync = promisify(execFile);
const DEFAULT_CRIGUARD = 'dist/criguard.cjs';
const GRPC_UNKNOWN = 2;
const DENIED = 'SignatureValidationFailed: ';

/** A pod of the demo: its sandbox config, and the ids the runtime gave it and its container. */
interface Pod {
  config: PodSandboxConfig;
  id: string;
  containerId: string;
}

/** What the steps share: the lab, the client on criguard's socket, and values earlier steps found. */
interface DemoContext {
  lab: Lab;
  cri: CriClient;
  signed: PushedImage;
  unsigned: PushedImage;
  pods: { web: Pod; rogue: Pod; preview: Pod };
  /** Image ids (`image_ref`) returned by the pulls. */
  imageIds: { signed: string; unsigned: string };
  auditLog: string;
  metricsUrl: string;
}

type PodName = keyof DemoContext['pods'];
const NAMESPACES: Record<PodName, string> = { web: 'default', rogue: 'default', preview: 'staging' };

interface StepResult {
  sent?: unknown;
  received?: unknown;
  /** Lines printed as they are (tables, `kubectl describe`). */
  lines?: string[];
  /** How the step ends: `admitted` (✓ admitted), `denied` (✗ denied, as it should be), or plain ✓. */
  verdict?: 'admitted' | 'denied';
}

interface Step {
  title: string;
  /** Returns what to print. Throws to fail the demo. */
  run(ctx: DemoContext): Promise<StepResult>;
}

const tty = process.stdout.isTTY;
const paint = (code: string, s: string): string => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = (s: string) => paint('1', s);
const dim = (s: string) => paint('2', s);
const green = (s: string) => paint('32', s);
const red = (s: string) => paint('31', s);
const yellow = (s: string) => paint('33', s);

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

function show(value: unknown, max = 400): string {
  const text = JSON.stringify(compact(value)) ?? 'undefined';
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}

/** `sha256:0123456789ab…` */
function shortDigest(digest: unknown): string {
  return typeof digest === 'string' ? `${digest.slice(0, 19)}…` : '-';
}

/**
 * A step that makes one CRI call through criguard. `expect.denied` makes it a call that criguard must deny
 * (with SignatureValidationFailed); `kubectl` renders what the pod's events would then show.
 */
function call<Req extends object>(
  title: string,
  service: CriServiceName,
  method: string,
  request: (ctx: DemoContext) => Req,
  after?: (ctx: DemoContext, response: Record<string, unknown>) => void,
  expect?: { denied: true; kubectl: (ctx: DemoContext, details: string) => string[] },
): Step {
  const gated = method === 'PullImage' || method === 'CreateContainer';
  return {
    title: `${title} ${dim(`(${service}/${method})`)}`,
    async run(ctx) {
      const sent = request(ctx);
      try {
        const received = await ctx.cri.unary<Record<string, unknown>>(service, method, sent);
        if (expect) throw new Error(`criguard admitted it: expected ${DENIED.trim()}`);
        after?.(ctx, received);
        return { sent, received, verdict: gated ? 'admitted' : undefined };
      } catch (err) {
        const e = err as ServiceError;
        if (!expect || e.code !== GRPC_UNKNOWN || !e.details?.startsWith(DENIED)) throw err;
        return {
          sent,
          received: { code: e.code, details: e.details },
          verdict: 'denied',
          lines: expect.kubectl(ctx, e.details),
        };
      }
    },
  };
}

function note(title: string, fn: (ctx: DemoContext) => Promise<StepResult>): Step {
  return { title, run: fn };
}

/** The pod's sandbox config, with its log directory under `work`. */
function podConfig(work: string, name: PodName): PodSandboxConfig {
  const logDirectory = join(work, 'pods', name);
  mkdirSync(logDirectory, { recursive: true });
  return {
    metadata: { name, uid: `demo-${name}-uid`, namespace: NAMESPACES[name], attempt: 0 },
    log_directory: logDirectory,
    linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
  };
}

function runPod(pod: PodName): Step {
  return call(
    `Start pod "${pod}" in namespace ${NAMESPACES[pod]} (host network, no CNI)`,
    'RuntimeService',
    'RunPodSandbox',
    (c) => ({ config: c.pods[pod].config }),
    (c, r) => (c.pods[pod].id = String(r['pod_sandbox_id'])),
  );
}

function createContainer(pod: PodName, image: 'signed' | 'unsigned', title: string, denied = false): Step {
  return call(
    title,
    'RuntimeService',
    'CreateContainer',
    (c) => ({
      pod_sandbox_id: c.pods[pod].id,
      config: {
        metadata: { name: pod, attempt: 0 },
        image: { image: c.imageIds[image], user_specified_image: c[image].ref },
        command: ['/bin/sh', '-c', `echo hello from ${pod}, a container behind criguard; exec sleep 3600`],
        log_path: `${pod}/0.log`,
      },
      sandbox_config: c.pods[pod].config,
    }),
    (c, r) => (c.pods[pod].containerId = String(r['container_id'])),
    denied
      ? {
          denied: true,
          kubectl: (c, details) => [
            `$ kubectl describe pod ${pod} -n ${NAMESPACES[pod]}   ${dim('(the pod’s events)')}`,
            `  Warning  Failed  kubelet  Error: ${details}`,
            `  ${dim('→ container state Waiting, reason CreateContainerError')}`,
          ],
        }
      : undefined,
  );
}

function startAndCheck(pod: PodName): Step[] {
  return [
    call('Start the container', 'RuntimeService', 'StartContainer', (c) => ({
      container_id: c.pods[pod].containerId,
    })),
    note('Container status', async (c) => {
      const { status } = await c.cri.containerStatus({ container_id: c.pods[pod].containerId });
      if (status?.state !== 'CONTAINER_RUNNING') throw new Error(`container state ${status?.state}`);
      return { received: { state: status.state, image: status.image?.image, image_ref: status.image_ref } };
    }),
    note('Read the container log', async (c) => {
      const file = join(c.pods[pod].config.log_directory ?? '', `${pod}/0.log`);
      await waitFor('container log', async () => readFileSync(file, 'utf8').includes('hello'), {
        timeoutMs: 10_000,
      });
      return { received: readFileSync(file, 'utf8').trim() };
    }),
  ];
}

/** Stops and removes the pod's container (if any) and the pod, through criguard. */
function teardown(pod: PodName): Step {
  return note(`Stop and remove pod "${pod}"`, async (c) => {
    const { id, containerId } = c.pods[pod];
    if (containerId) {
      await c.cri.stopContainer({ container_id: containerId, timeout: 0 });
      await c.cri.removeContainer({ container_id: containerId });
    }
    await c.cri.stopPodSandbox({ pod_sandbox_id: id });
    await c.cri.removePodSandbox({ pod_sandbox_id: id });
    return {
      received: containerId
        ? `StopContainer, RemoveContainer ${containerId.slice(0, 12)}; StopPodSandbox, RemovePodSandbox ${id.slice(0, 12)}`
        : `StopPodSandbox, RemovePodSandbox ${id.slice(0, 12)}`,
    };
  });
}

/** The audit records of the gated calls, as a table; checks there is one per decision of the demo. */
async function auditTable(c: DemoContext): Promise<StepResult> {
  const expected = [
    ['PullImage', 'default', 'allow'],
    ['CreateContainer', 'default', 'allow'],
    ['PullImage', 'default', 'deny'],
    ['CreateContainer', 'default', 'deny'],
    ['PullImage', 'staging', 'allow'],
    ['CreateContainer', 'staging', 'allow'],
  ];
  let records: Array<Record<string, unknown>> = [];
  const read = () =>
    readFileSync(c.auditLog, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => r['method'] !== 'Revalidation');
  await waitFor('audit records', async () => (records = read()).length >= expected.length, {
    timeoutMs: 5000,
  });
  const rows = records.map((r) => {
    const pod = (r['pod'] ?? {}) as { namespace?: string; name?: string };
    const digests = (r['digests'] ?? []) as string[];
    const outcome = r['dryRun'] ? `${r['outcome']} (dry run: would ${r['wouldBe']})` : String(r['outcome']);
    return [
      String(r['method']),
      pod.namespace ?? '',
      pod.name ?? '',
      shortDigest(digests[0]),
      outcome,
      String(r['reason']),
    ];
  });
  const got = rows.map((r) => [r[0], r[1], r[4]?.split(' ')[0]]);
  if (JSON.stringify(got) !== JSON.stringify(expected)) {
    throw new Error(`unexpected audit records: ${JSON.stringify(got)}`);
  }
  const header = ['METHOD', 'NAMESPACE', 'POD', 'IMAGE DIGEST', 'OUTCOME', 'REASON'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return {
    lines: [
      `$ cat ${c.auditLog}   ${dim('(one JSON line per decision; the columns that matter)')}`,
      dim(line(header)),
      ...rows.map((r) => {
        const text = line(r);
        return r[4]?.startsWith('deny') ? red(text) : r[4]?.includes('dry run') ? yellow(text) : text;
      }),
    ],
  };
}

async function metricsLines(c: DemoContext): Promise<StepResult> {
  const text = await (await fetch(`${c.metricsUrl}/metrics`)).text();
  const lines = text
    .split('\n')
    .filter((l) => l.startsWith('criguard_decisions_total') || l.startsWith('criguard_policy_info'));
  if (!lines.some((l) => l.startsWith('criguard_decisions_total'))) {
    throw new Error('no criguard_decisions_total in /metrics');
  }
  return { lines: [`$ curl -s ${c.metricsUrl}/metrics | grep -E 'decisions_total|policy_info'`, ...lines] };
}

/** The demo, in order: scene headings (strings) and steps. */
function steps(): Array<Step | string> {
  return [
    'The kubelet starts up',
    call('Ask the runtime for its version', 'RuntimeService', 'Version', () => ({ version: 'v1' })),
    call('Check the runtime is ready', 'RuntimeService', 'Status', () => ({})),

    'Pod "web" (namespace default) runs the signed image',
    runPod('web'),
    call(
      'Pull the signed image',
      'ImageService',
      'PullImage',
      (c) => ({ image: { image: c.signed.ref }, sandbox_config: c.pods.web.config }),
      (c, r) => (c.imageIds.signed = String(r['image_ref'])),
    ),
    createContainer('web', 'signed', 'Create the container'),
    ...startAndCheck('web'),

    'Pod "rogue" (namespace default) wants the unsigned image',
    runPod('rogue'),
    call(
      'Pull the unsigned image',
      'ImageService',
      'PullImage',
      (c) => ({ image: { image: c.unsigned.ref }, sandbox_config: c.pods.rogue.config }),
      undefined,
      {
        denied: true,
        kubectl: (c, details) => [
          `$ kubectl describe pod rogue -n default   ${dim('(the pod’s events)')}`,
          `  Warning  Failed  kubelet  Failed to pull image "${c.unsigned.ref}": ${details}`,
          `  Warning  Failed  kubelet  Error: ErrImagePull`,
        ],
      },
    ),
    note('Is the image on the node? (asking containerd directly)', async (c) => {
      const { image } = await c.lab.cri.imageStatus({ image: { image: c.unsigned.ref } });
      if (image) throw new Error('containerd has the image that criguard denied');
      return { lines: [`${dim('←')} {"image":null} ${dim('(no: containerd never pulled it)')}`] };
    }),
    note('Someone pulls it behind criguard’s back (CRI PullImage straight to containerd)', async (c) => {
      const { image_ref } = await c.lab.cri.pullImage({ image: { image: c.unsigned.ref } });
      c.imageIds.unsigned = image_ref;
      return {
        lines: [
          `${dim('$')} crictl --runtime-endpoint unix://${c.lab.containerd.socket} pull ${c.unsigned.ref}`,
          `Image is up to date for ${image_ref}`,
        ],
      };
    }),
    createContainer('rogue', 'unsigned', 'The kubelet finds it present and creates the container', true),

    'Pod "preview" (namespace staging, dry run) runs the unsigned image',
    runPod('preview'),
    call(
      'Pull the unsigned image',
      'ImageService',
      'PullImage',
      (c) => ({ image: { image: c.unsigned.ref }, sandbox_config: c.pods.preview.config }),
      (c, r) => (c.imageIds.unsigned = String(r['image_ref'])),
    ),
    createContainer('preview', 'unsigned', 'Create the container'),
    ...startAndCheck('preview'),

    'What criguard recorded',
    note('The audit log', auditTable),
    note('Metrics', metricsLines),

    'Clean up',
    teardown('web'),
    teardown('rogue'),
    teardown('preview'),
  ];
}

/** How to run criguard: `node BUNDLE` for a .cjs/.js bundle, else the file itself (the packaged binary). */
function criguardCommand(bundle: string): { command: string; prefix: string[]; shown: string } {
  return /\.[cm]?js$/.test(bundle)
    ? { command: process.execPath, prefix: [bundle], shown: `node ${bundle}` }
    : { command: bundle, prefix: [], shown: bundle };
}

/**
 * Runs one criguard CLI command, printing it and what it printed (`quiet`: not its stdout); throws with its
 * stderr on failure. Resolves to its stdout.
 */
async function cli(bundle: string, args: string[], quiet = false): Promise<string> {
  const { command, prefix } = criguardCommand(bundle);
  console.log(`${dim('$')} criguard ${args.join(' ')}`);
  try {
    const { stdout, stderr } = await execFileAsync(command, [...prefix, ...args], { encoding: 'utf8' });
    for (const line of `${quiet ? '' : stdout}${stderr}`.split('\n').filter(Boolean)) {
      console.log(`  ${dim(line)}`);
    }
    return stdout;
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    throw new Error(`criguard ${args[0]} exited ${e.code}: ${e.stderr?.trim()}`);
  }
}

/** The demo policy: `attestorYaml` is what `criguard keygen --attestor ci` printed. */
function policyYaml(attestorYaml: string): string {
  const indented = attestorYaml
    .trimEnd()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
  return `# criguard demo policy: Binary Authorization format (docs/policy.md)
defaultAdmissionRule:
  evaluationMode: REQUIRE_ATTESTATION
  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
  requireAttestationsBy: [ci]
kubernetesNamespaceAdmissionRules:
  kube-system:
    evaluationMode: ALWAYS_ALLOW
    enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
  staging:
    evaluationMode: REQUIRE_ATTESTATION
    enforcementMode: DRYRUN_AUDIT_LOG_ONLY
    requireAttestationsBy: [ci]
attestors:
${indented}
`;
}

/** Starts `criguard serve` on a socket in `dir` and waits until it answers Version through to containerd. */
async function startCriguard(
  bundle: string,
  dir: string,
  upstream: string,
  extra: string[],
): Promise<{ daemon: Daemon; socket: string }> {
  const socket = join(dir, 'criguard.sock');
  const { command, prefix, shown } = criguardCommand(bundle);
  const args = ['serve', '--listen', socket, '--upstream', upstream, ...extra];
  console.log(`${bold('criguard')}: ${shown} ${args.join(' ')}`);
  const daemon = spawnDaemon(command, [...prefix, ...args], { logFile: join(dir, 'criguard.log') });
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
  console.log(bold('criguard demo: image trust enforcement between the kubelet and a real containerd\n'));
  const began = performance.now();
  const work = mkdtempSync('/tmp/cgd-');
  // Interrupted (Ctrl-C) or killed by an error: the lab's own hooks stop the daemons, this one (run last)
  // removes the key, policy and logs.
  const unhook = onProcessExit(() => rmSync(work, { recursive: true, force: true }));
  // Output piped into `head` and closed: keep going quietly, so the clean-up below still runs.
  process.stdout.on('error', () => undefined);
  let lab: Lab | undefined;
  let criguard: Daemon | undefined;
  let cri: CriClient | undefined;
  let failed = false;
  let stepFailed = false;
  try {
    // Setup: lab, key, policy, images, signature, criguard.
    console.log(bold('── Setup ──'));
    const labUp = startLab();
    const keyPrefix = join(work, 'ci');
    const attestorYaml = await cli(bundle, ['keygen', '--out', keyPrefix, '--attestor', 'ci'], true);
    console.log(
      `  ${dim('(and the attestor "ci" with its public key, on stdout: it goes into the policy)')}`,
    );
    const policyFile = join(work, 'policy.yaml');
    writeFileSync(policyFile, policyYaml(attestorYaml));
    console.log(
      `${bold('policy')}: ${policyFile}\n` +
        `  default      REQUIRE_ATTESTATION by attestor "ci", ${red('enforced')}\n` +
        `  kube-system  ALWAYS_ALLOW\n` +
        `  staging      REQUIRE_ATTESTATION by "ci", ${yellow('dry run')} (admit, audit what would be denied)`,
    );
    await cli(bundle, ['policy', 'check', policyFile]);
    lab = await labUp;
    console.log(
      `${bold('lab')}: registry ${lab.registry.host}, containerd ${lab.containerd.socket} (${lab.startupMs} ms)`,
    );
    const [signed, unsigned] = await Promise.all([
      pushImage(lab.registry, { name: 'demo/signed', tag: 'v1', variant: 'signed' }),
      pushImage(lab.registry, { name: 'demo/unsigned', tag: 'v1', variant: 'unsigned' }),
    ]);
    console.log(
      `${bold('images')} pushed: ${signed.ref.padEnd(unsigned.ref.length)}  ${signed.digest}\n` +
        `               ${unsigned.ref}  ${unsigned.digest}`,
    );
    await cli(bundle, ['sign', '--key', `${keyPrefix}.key`, '--push', signed.digestRef]);
    const auditLog = join(work, 'audit.jsonl');
    const metricsAddress = `127.0.0.1:${await freePort()}`;
    const started = await startCriguard(bundle, work, lab.containerd.socket, [
      '--policy',
      policyFile,
      '--audit-log',
      auditLog,
      '--state-dir',
      join(work, 'state'),
      '--metrics-address',
      metricsAddress,
      '--log-level',
      values['log-level'] ?? 'info',
    ]);
    criguard = started.daemon;
    cri = createCriClient(started.socket, { deadlineMs: 120_000 });
    const pod = (name: PodName): Pod => ({ config: podConfig(work, name), id: '', containerId: '' });
    const ctx: DemoContext = {
      lab,
      cri,
      signed,
      unsigned,
      pods: { web: pod('web'), rogue: pod('rogue'), preview: pod('preview') },
      imageIds: { signed: '', unsigned: '' },
      auditLog,
      metricsUrl: `http://${metricsAddress}`,
    };
    console.log(
      `  ${green('✓')} ready ${dim(`(setup done in ${((performance.now() - began) / 1000).toFixed(1)} s)`)}`,
    );

    const all = steps();
    const total = all.filter((s) => typeof s !== 'string').length;
    const t1 = performance.now();
    let n = 0;
    for (const step of all) {
      if (typeof step === 'string') {
        console.log(`\n${bold(`── ${step} ──`)}`);
        continue;
      }
      n += 1;
      console.log(`\n${bold(`[${n}/${total}]`)} ${step.title}`);
      const t0 = performance.now();
      try {
        const { sent, received, lines, verdict } = await step.run(ctx);
        const ms = dim(`${(performance.now() - t0).toFixed(0)} ms`);
        if (sent !== undefined) console.log(`  ${dim('→')} ${show(sent)}`);
        if (received !== undefined) console.log(`  ${dim('←')} ${show(received)}`);
        for (const line of lines ?? []) console.log(`  ${line}`);
        if (verdict === 'denied')
          console.log(`  ${red('✗ denied')} ${dim('(as the policy requires)')} ${ms}`);
        else if (verdict === 'admitted') console.log(`  ${green('✓ admitted')} ${ms}`);
        else console.log(`  ${green('✓')} ${ms}`);
      } catch (err) {
        const e = err as Partial<ServiceError> & Error;
        console.log(
          `  ${red('FAILED')}: ${e.code !== undefined ? `gRPC code ${e.code}: ${e.details}` : e.message}`,
        );
        failed = stepFailed = true;
        break;
      }
    }
    if (!stepFailed)
      console.log(dim(`\n${total} steps in ${((performance.now() - t1) / 1000).toFixed(1)} s`));
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
    unhook();
  }
  console.log(failed ? red('\ndemo failed') : green('\ndemo finished: everything cleaned up'));
  return failed ? 1 : 0;
}

process.exitCode = await main();
