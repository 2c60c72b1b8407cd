/**
 * Attacks on the decision point by pod authors, tenants and clients of the CRI socket (issue 12), each
 * against a real containerd and registry: a breakglass leaking to image volumes, an undecided allow
 * steered by a registry the pod author owns, a tag moved between check and create, platform aliases in a
 * multi-arch index, and a tenant's failing registry name spoiling another tenant's image. A small proxy in
 * front of the real registry plays the hostile registry: it passes everything through, except that it can
 * hold or act on criguard's signature requests (containerd never asks for those).
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import { createCriClient, type CriClient } from '../helpers/cri-client.js';
import { startCriguard, type Criguard } from '../helpers/criguard.js';
import { freePort } from '../helpers/daemon.js';
import { OCI_INDEX, OCI_MANIFEST, pushImage, pushManifest, type PushedImage } from '../helpers/images.js';
import { labReady, podSandboxConfig, useLab, type Lab } from '../helpers/lab.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import {
  attestor,
  criguardCli,
  keygen,
  readAudit,
  writePolicy,
  type SigningKey,
} from '../helpers/signing.js';

const lab = useLab(test);
const work = mkdtempSync(join(tmpdir(), 'cgh-'));
const policyFile = join(work, 'policy.json');
const auditLog = join(work, 'audit.jsonl');
const breakglassFile = join(work, 'breakglass', 'breakglass.yaml');
let key: SigningKey;
let criguard: Criguard;
let cri: CriClient;
let proxy: HostileProxy;

/** Decides what the proxy does with a request: pass it on (after acting, maybe) or hold it forever. */
type Hook = (req: IncomingMessage) => Promise<'pass' | 'hold'>;

interface HostileProxy {
  readonly host: string;
  hook: Hook | undefined;
  close(): Promise<void>;
}

/** criguard's evidence requests: cosign signature tags and the referrers API. containerd sends neither. */
const isEvidenceRequest = (req: IncomingMessage) => /\.sig$|\/referrers\//.test(req.url ?? '');

async function startHostileProxy(upstream: string): Promise<HostileProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  const self: HostileProxy = {
    host: `127.0.0.1:${port}`,
    hook: undefined,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      if ((await (self.hook?.(req) ?? 'pass')) === 'hold') return; // never answered
      const body = await new Promise<Buffer>((resolve) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => resolve(Buffer.concat(chunks)));
      });
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(
          (e): e is [string, string] => typeof e[1] === 'string' && e[0] !== 'host',
        ),
      );
      const method = req.method ?? 'GET';
      const answer = await fetch(`${upstream}${req.url ?? '/'}`, {
        method,
        headers,
        body: method === 'GET' || method === 'HEAD' ? undefined : body,
        redirect: 'manual',
      });
      const out = Buffer.from(await answer.arrayBuffer());
      const passed: Record<string, string> = {};
      answer.headers.forEach((v, k) => {
        if (!['content-encoding', 'transfer-encoding', 'connection', 'content-length'].includes(k))
          passed[k] = v;
      });
      const length = method === 'HEAD' ? (answer.headers.get('content-length') ?? '0') : String(out.length);
      res.writeHead(answer.status, { ...passed, 'content-length': length });
      res.end(method === 'HEAD' ? undefined : out);
    })().catch(() => res.destroy());
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return self;
}

/** Lets the lab's containerd reach another registry host over plain HTTP (certs.d is read per pull). */
function trustRegistry(l: Lab, host: string): void {
  const dir = join(l.containerd.dir, 'certs.d', host);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'hosts.toml'),
    `server = "http://${host}"\n\n[host."http://${host}"]\n  capabilities = ["pull", "resolve"]\n`,
  );
}

test.before(async () => {
  key = await keygen(work, 'ci');
  const l = await labReady(lab);
  proxy = await startHostileProxy(l.registry.url);
  trustRegistry(l, proxy.host);
  writePolicy(policyFile, {
    defaultAdmissionRule: {
      evaluationMode: 'REQUIRE_ATTESTATION',
      enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
      requireAttestationsBy: ['ci'],
    },
    kubernetesNamespaceAdmissionRules: {
      'kube-system': { evaluationMode: 'ALWAYS_ALLOW', enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG' },
      lenient: {
        evaluationMode: 'REQUIRE_ATTESTATION',
        enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
        requireAttestationsBy: ['ci'],
        // The operator accepts outages of its own registry, not of whatever a pod spec names.
        criguard: { onUndecided: 'ALLOW', onUndecidedRegistries: [l.registry.host] },
      },
    },
    attestors: [attestor('ci', [key])],
  });
  criguard = await startCriguard({
    upstream: l.containerd.socket,
    extraArgs: [
      '--policy',
      policyFile,
      '--state-dir',
      join(work, 'state'),
      '--audit-log',
      auditLog,
      '--verify-timeout',
      '4',
      '--breakglass-file',
      breakglassFile,
    ],
  });
  cri = createCriClient(criguard.socket, { deadlineMs: 60_000 });
});

test.after.always(async () => {
  cri?.close();
  await criguard?.dispose();
  await proxy?.close();
  rmSync(work, { recursive: true, force: true });
});

async function signAndPush(digestRef: string): Promise<void> {
  const out = await criguardCli(['sign', '--key', key.keyFile, '--push', digestRef]);
  if (out.code !== 0) throw new Error(out.stderr);
}

const unique = (what: string) => `${what}-${randomUUID().slice(0, 8)}`;

/** The audit records of one pod, in order. */
const recordsOf = (podUid: string) =>
  readAudit(auditLog).filter((r) => (r.pod as { uid?: string } | undefined)?.uid === podUid);

test.serial(
  'breakglass_scope_image_volume_fail: a breakglass for image A does not admit an unsigned image volume B',
  async (t) => {
    const a = await pushImage(lab().registry, { variant: unique('bg-a') });
    const b = await pushImage(lab().registry, { name: 'hard/volume', variant: unique('bg-b') });
    const enabled = await criguardCli([
      'breakglass',
      'enable',
      '--file',
      breakglassFile,
      '--reason',
      'INC-7 image A only',
      '--duration',
      '1h',
      '--digest',
      a.digest,
    ]);
    t.is(enabled.code, 0, enabled.stderr);
    t.teardown(async () => {
      await criguardCli(['breakglass', 'disable', '--file', breakglassFile]);
    });
    const config = podSandboxConfig(lab(), 'default');
    let imageA: string | undefined;
    for (let i = 0; i < 40 && imageA === undefined; i++) {
      imageA = await cri
        .pullImage({ image: { image: a.digestRef }, sandbox_config: config })
        .then((r) => r.image_ref)
        .catch(() => undefined);
      if (imageA === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    t.is(imageA, a.configDigest, 'the breakglass admits A');
    // B arrives behind criguard's back (or in a namespace that allows anything).
    const imageB = (await lab().cri.pullImage({ image: { image: b.digestRef } })).image_ref;
    const { pod_sandbox_id } = await cri.runPodSandbox({ config });
    const err = await t.throwsAsync<ServiceError>(
      cri.createContainer({
        pod_sandbox_id,
        config: {
          metadata: { name: 'with-volume' },
          image: { image: imageA! },
          mounts: [{ container_path: '/data', host_path: '', image: { image: imageB } }] as never,
          log_path: 'v.log',
        },
        sandbox_config: config,
      }),
    );
    t.true(err?.details.startsWith('SignatureValidationFailed: '), err?.details);
    t.true(err?.details.includes(b.digest), 'the message names the refused volume');
    const record = recordsOf(config.metadata.uid)
      .filter((r) => r.method === 'CreateContainer')
      .at(-1) as
      { outcome: string; images: Array<{ image: string; outcome: string; reason: string }> } | undefined;
    t.is(record?.outcome, 'deny');
    t.deepEqual(
      record?.images.map((i) => [i.image, i.outcome, i.reason]),
      [
        [imageA, 'allow', 'BREAKGLASS'],
        [imageB, 'deny', 'ATTESTOR_MISSING'],
      ],
    );
  },
);

test.serial(
  'undecided_allow_steered_by_pod_author_fail: a registry the pod author owns cannot hang its way to an allow',
  async (t) => {
    const unsigned = await pushImage(lab().registry, { name: 'hard/steer', variant: unique('steer') });
    proxy.hook = async (req) => (isEvidenceRequest(req) ? 'hold' : 'pass');
    t.teardown(() => {
      proxy.hook = undefined;
    });
    const config = podSandboxConfig(lab(), 'lenient');
    const ref = `${proxy.host}/${unsigned.name}@${unsigned.digest}`;
    const err = await t.throwsAsync<ServiceError>(
      cri.pullImage({ image: { image: ref }, sandbox_config: config }),
    );
    t.true(err?.details.startsWith('RegistryUnavailable: '), err?.details);
    const record = recordsOf(config.metadata.uid).at(-1);
    t.is(record?.reason, 'UNDECIDED');
    t.is(record?.errorCode, 'CG_ERR_TIMEOUT');
    t.is((await lab().cri.imageStatus({ image: { image: ref } })).image, null, 'containerd never pulled it');
  },
);

test.serial(
  'create_by_tag_check_then_use_fail: a tag moved while criguard judges it does not run the unsigned image',
  async (t) => {
    const name = 'hard/flip';
    const signed = await pushImage(lab().registry, { name, tag: 'flip', variant: unique('flip-s') });
    const unsigned = await pushImage(lab().registry, { name, tag: 'other', variant: unique('flip-u') });
    await signAndPush(signed.digestRef);
    const tagRef = `${proxy.host}/${name}:flip`;
    // The local tag names the signed image; the unsigned one is already on the node.
    await lab().cri.pullImage({ image: { image: tagRef } });
    await lab().cri.pullImage({ image: { image: `${proxy.host}/${name}:other` } });
    // While criguard fetches the signed image's signature, another client of the socket moves the tag.
    let moved = false;
    proxy.hook = async (req) => {
      if (!moved && isEvidenceRequest(req) && req.url?.includes(signed.digest.slice(7))) {
        moved = true;
        await pushManifest(lab().registry, name, 'flip', unsigned.manifest, OCI_MANIFEST);
        await cri.pullImage({
          image: { image: tagRef },
          sandbox_config: podSandboxConfig(lab(), 'kube-system'),
        });
      }
      return 'pass';
    };
    t.teardown(() => {
      proxy.hook = undefined;
    });
    const config = podSandboxConfig(lab(), 'default');
    const { pod_sandbox_id } = await cri.runPodSandbox({ config });
    const created = await cri
      .createContainer({
        pod_sandbox_id,
        config: { metadata: { name: 'by-tag' }, image: { image: tagRef }, log_path: 'f.log' },
        sandbox_config: config,
      })
      .then(
        (r) => ({ id: r.container_id, error: undefined }),
        (e: ServiceError) => ({ id: undefined, error: e }),
      );
    const running = created.id
      ? (await lab().cri.containerStatus({ container_id: created.id })).status?.image_ref
      : undefined;
    t.is(
      created.id,
      undefined,
      `a container was created from ${running} (unsigned: ${unsigned.configDigest})`,
    );
    t.true(created.error?.details.includes('must name the image by its id'), created.error?.details);
    t.is(recordsOf(config.metadata.uid).at(-1)?.reason, 'IMAGE_NOT_CONTENT_ADDRESSED');
    // The image id the kubelet sends still works.
    proxy.hook = undefined;
    const byId = await cri.createContainer({
      pod_sandbox_id,
      config: { metadata: { name: 'by-id' }, image: { image: signed.configDigest }, log_path: 'g.log' },
      sandbox_config: config,
    });
    t.truthy(byId.container_id);
  },
);

/** An OCI index over already pushed manifests, each with the platform given (as a registry may hold it). */
async function pushIndexOf(
  name: string,
  tag: string,
  entries: Array<[PushedImage, Record<string, string>]>,
): Promise<string> {
  const index = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: entries.map(([m, platform]) => ({
      mediaType: OCI_MANIFEST,
      digest: m.digest,
      size: m.manifest.length,
      platform,
    })),
  };
  return pushManifest(lab().registry, name, tag, Buffer.from(JSON.stringify(index)), OCI_INDEX);
}

test.serial(
  'platform_alias_fail: an index listing `Linux`/`x86_64` first is judged by the entry containerd takes',
  async (t) => {
    const name = 'hard/alias';
    const unsigned = await pushImage(lab().registry, { name, variant: unique('alias-u') });
    const signed = await pushImage(lab().registry, { name, variant: unique('alias-s') });
    await signAndPush(signed.digestRef);
    const tag = unique('both');
    await pushIndexOf(name, tag, [
      [unsigned, { os: 'Linux', architecture: 'x86_64' }],
      [signed, { os: 'linux', architecture: 'amd64' }],
    ]);
    const config = podSandboxConfig(lab(), 'default');
    const ref = `${lab().registry.host}/${name}:${tag}`;
    const pulled = await cri.pullImage({ image: { image: ref }, sandbox_config: config }).then(
      (r) => r.image_ref,
      (e: ServiceError) => e,
    );
    t.false(
      typeof pulled === 'string',
      `PullImage answered ${String(pulled)} (unsigned: ${unsigned.configDigest})`,
    );
    t.true((pulled as ServiceError).details?.startsWith('SignatureValidationFailed: '));

    // The alias alone names the signed manifest: admitted, and containerd runs exactly that one.
    const aliasOnly = unique('alias-only');
    await pushIndexOf(name, aliasOnly, [[signed, { os: 'LINUX', architecture: 'X86_64' }]]);
    const imageId = (
      await cri.pullImage({
        image: { image: `${lab().registry.host}/${name}:${aliasOnly}` },
        sandbox_config: config,
      })
    ).image_ref;
    t.is(imageId, signed.configDigest);
    const { pod_sandbox_id } = await cri.runPodSandbox({ config });
    const created = await cri.createContainer({
      pod_sandbox_id,
      config: { metadata: { name: 'alias' }, image: { image: imageId }, log_path: 'a.log' },
      sandbox_config: config,
    });
    t.truthy(created.container_id);
  },
);

test.serial(
  'tenant_name_blocks_create_fail: another tenant’s name on a failing registry does not deny the victim',
  async (t) => {
    // The attacker's registry: a port that sorts before the lab's, so its name comes first in containerd.
    let hostile: Registry | undefined;
    for (let i = 0; i < 20 && !hostile; i++) {
      hostile = await startRegistry({ port: 10_000 + Math.floor(Math.random() * 9_000) }).catch(
        () => undefined,
      );
    }
    t.teardown(() => hostile?.dispose());
    trustRegistry(lab(), hostile!.host);
    const variant = unique('tenant');
    const victim = await pushImage(lab().registry, { name: 'victim/app', variant, tag: 'v1' });
    const copy = await pushImage(hostile!, { name: 'attacker/copy', variant, tag: 'v1' });
    t.is(copy.configDigest, victim.configDigest, 'the same image id');
    await signAndPush(victim.digestRef);
    // Victim pulls its signed image; the attacker attaches its own name to the same image id.
    await lab().cri.pullImage({ image: { image: victim.digestRef } });
    await lab().cri.pullImage({ image: { image: copy.digestRef } });
    const status = await lab().cri.imageStatus({ image: { image: victim.configDigest } });
    t.is(status.image?.repo_digests.length, 2, status.image?.repo_digests.join(' '));
    await hostile!.stop();

    const config = podSandboxConfig(lab(), 'default');
    const { pod_sandbox_id } = await cri.runPodSandbox({ config });
    const created = await cri
      .createContainer({
        pod_sandbox_id,
        config: { metadata: { name: 'victim' }, image: { image: victim.configDigest }, log_path: 'v.log' },
        sandbox_config: config,
      })
      .then(
        (r) => r.container_id,
        (e: ServiceError) => e,
      );
    t.is(typeof created, 'string', (created as ServiceError).details);
    const record = recordsOf(config.metadata.uid).at(-1);
    t.is(record?.outcome, 'allow');
    t.is(record?.imageName, `${lab().registry.host}/victim/app`);
  },
);
