/**
 * Real OCI images for tests, built offline from Debian's static busybox and pushed to a test registry over
 * the distribution API with fetch. Also: a multi-arch OCI index, the pause image, and importing an image
 * into containerd behind the CRI's back (with `ctr`).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { createTar, type TarEntry } from './tar.js';

const execFileAsync = promisify(execFile);
const gzipAsync = promisify(gzip);

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

const BUSYBOX = '/bin/busybox';
const APPLETS = [
  'sh',
  'sleep',
  'echo',
  'cat',
  'ls',
  'true',
  'false',
  'env',
  'id',
  'ps',
  'mkdir',
  'rm',
  'touch',
];

/** Where to push: a started test registry or anything with its `host` (`127.0.0.1:PORT`). */
export interface RegistryTarget {
  host: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
}

/** A pushed image: `ref` is `host/name:tag`; `digest` the manifest (or index) digest; `configDigest` the image ID. */
export interface PushedImage {
  host: string;
  name: string;
  tag: string;
  ref: string;
  /** `host/name@digest`. */
  digestRef: string;
  digest: string;
  mediaType: string;
  configDigest: string;
  manifest: Buffer;
}

/** A pushed multi-arch index; `configDigest` is the linux/amd64 one (what containerd runs here). */
export interface PushedIndex extends PushedImage {
  manifests: { platform: { architecture: string; os: string }; digest: string; configDigest: string }[];
}

export interface ImageOptions {
  /** Repository name (default `criguard-test/busybox`). */
  name?: string;
  /** Tag (default: the variant, else `latest`). */
  tag?: string;
  /** Anything unique: recorded as a config label so the image ID and manifest digest differ per variant. */
  variant?: string;
  labels?: Record<string, string>;
  cmd?: string[];
  entrypoint?: string[];
  architecture?: string;
}

/** `sha256:<hex>` of some bytes. */
export function sha256Digest(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

interface Layer {
  blob: Buffer;
  digest: string;
  diffId: string;
}
let layerCache: Promise<Layer> | undefined;

/** The busybox layer (gzipped tar: /bin/busybox, applet symlinks, /etc/passwd, /tmp); built once per process (in the background: call it early to overlap). */
export function busyboxLayer(): Promise<Layer> {
  layerCache ??= (async () => {
    const entries: TarEntry[] = [
      { type: 'dir', path: 'bin' },
      { type: 'file', path: 'bin/busybox', data: readFileSync(BUSYBOX), mode: 0o755 },
      ...APPLETS.map((a): TarEntry => ({ type: 'symlink', path: `bin/${a}`, target: 'busybox' })),
      { type: 'dir', path: 'etc' },
      { type: 'file', path: 'etc/passwd', data: Buffer.from('root:x:0:0:root:/root:/bin/sh\n') },
      { type: 'file', path: 'etc/group', data: Buffer.from('root:x:0:\n') },
      { type: 'dir', path: 'tmp', mode: 0o1777 },
    ];
    const tar = createTar(entries);
    const blob = await gzipAsync(tar);
    return { blob, digest: sha256Digest(blob), diffId: sha256Digest(tar) };
  })();
  return layerCache;
}

async function expectStatus(res: Response, ok: number[], what: string): Promise<void> {
  if (!ok.includes(res.status)) {
    throw new Error(`${what}: HTTP ${res.status} ${await res.text().catch(() => '')}`.trim());
  }
}

/** Uploads a blob (monolithic POST + PUT) unless the repository already has it; returns its descriptor digest. */
export async function pushBlob(registry: RegistryTarget, name: string, data: Uint8Array): Promise<string> {
  const base = `http://${registry.host}/v2/${name}`;
  const digest = sha256Digest(data);
  const head = await fetch(`${base}/blobs/${digest}`, { method: 'HEAD' });
  if (head.status === 200) return digest;
  const start = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
  await expectStatus(start, [202], `start upload to ${name}`);
  await start.arrayBuffer();
  const location = new URL(start.headers.get('location') ?? '', `http://${registry.host}`);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: data,
  });
  await expectStatus(put, [201], `upload ${digest} to ${name}`);
  await put.arrayBuffer();
  return digest;
}

/** PUTs a manifest or index under a tag or digest; returns the digest of the bytes sent. */
export async function pushManifest(
  registry: RegistryTarget,
  name: string,
  reference: string,
  body: Uint8Array,
  mediaType: string,
): Promise<string> {
  const res = await fetch(`http://${registry.host}/v2/${name}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'content-type': mediaType },
    body,
  });
  await expectStatus(res, [201], `push manifest ${name}:${reference}`);
  await res.arrayBuffer();
  return sha256Digest(body);
}

function toJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** Builds and pushes the config and manifest of one single-platform image (not tagged); returns the pieces. */
async function pushPlatformManifest(
  registry: RegistryTarget,
  name: string,
  opts: ImageOptions,
): Promise<{ manifest: Buffer; digest: string; configDigest: string }> {
  const layer = await busyboxLayer();
  const labels = { ...opts.labels, ...(opts.variant ? { 'dev.criguard.test.variant': opts.variant } : {}) };
  const config = toJson({
    created: '2024-01-01T00:00:00Z',
    architecture: opts.architecture ?? 'amd64',
    os: 'linux',
    config: {
      Env: ['PATH=/bin'],
      ...(opts.entrypoint ? { Entrypoint: opts.entrypoint } : {}),
      Cmd: opts.cmd ?? ['/bin/sleep', '3600'],
      ...(Object.keys(labels).length ? { Labels: labels } : {}),
    },
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    history: [{ created: '2024-01-01T00:00:00Z', created_by: 'criguard test harness (busybox-static)' }],
  });
  const configDigest = await pushBlob(registry, name, config);
  await pushBlob(registry, name, layer.blob);
  const manifest = toJson({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
    layers: [{ mediaType: OCI_LAYER_GZIP, digest: layer.digest, size: layer.blob.length }],
  });
  return { manifest, digest: sha256Digest(manifest), configDigest };
}

function names(registry: RegistryTarget, opts: ImageOptions): { name: string; tag: string } {
  return { name: opts.name ?? 'criguard-test/busybox', tag: opts.tag ?? opts.variant ?? 'latest' };
}

/** Builds a busybox image (linux/amd64 unless `architecture`), pushes it and tags it. */
export async function pushImage(registry: RegistryTarget, opts: ImageOptions = {}): Promise<PushedImage> {
  const { name, tag } = names(registry, opts);
  const { manifest, digest, configDigest } = await pushPlatformManifest(registry, name, opts);
  await pushManifest(registry, name, tag, manifest, OCI_MANIFEST);
  return {
    host: registry.host,
    name,
    tag,
    ref: `${registry.host}/${name}:${tag}`,
    digestRef: `${registry.host}/${name}@${digest}`,
    digest,
    mediaType: OCI_MANIFEST,
    configDigest,
    manifest,
  };
}

/**
 * Pushes a multi-arch OCI index over one manifest per architecture (default amd64 and arm64; all hold the
 * amd64 busybox layer, which is fine for tests that never run the foreign one) and tags the index.
 */
export async function pushIndex(
  registry: RegistryTarget,
  opts: ImageOptions & { architectures?: string[] } = {},
): Promise<PushedIndex> {
  const { name, tag } = names(registry, opts);
  const manifests: PushedIndex['manifests'] = [];
  const descriptors: Descriptor[] = [];
  for (const architecture of opts.architectures ?? ['amd64', 'arm64']) {
    const m = await pushPlatformManifest(registry, name, { ...opts, architecture });
    await pushManifest(registry, name, m.digest, m.manifest, OCI_MANIFEST);
    const platform = { architecture, os: 'linux' };
    manifests.push({ platform, digest: m.digest, configDigest: m.configDigest });
    descriptors.push({ mediaType: OCI_MANIFEST, digest: m.digest, size: m.manifest.length, platform });
  }
  const index = toJson({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: descriptors });
  const digest = await pushManifest(registry, name, tag, index, OCI_INDEX);
  const amd64 = manifests.find((m) => m.platform.architecture === 'amd64') ?? manifests[0];
  return {
    host: registry.host,
    name,
    tag,
    ref: `${registry.host}/${name}:${tag}`,
    digestRef: `${registry.host}/${name}@${digest}`,
    digest,
    mediaType: OCI_INDEX,
    configDigest: amd64?.configDigest ?? '',
    manifest: index,
    manifests,
  };
}

export const PAUSE_NAME = 'criguard-test/pause';
export const PAUSE_TAG = '1';

/** Pushes the pod sandbox ("pause") image `criguard-test/pause:1`: busybox sleeping forever. */
export function pushPauseImage(registry: RegistryTarget): Promise<PushedImage> {
  return pushImage(registry, {
    name: PAUSE_NAME,
    tag: PAUSE_TAG,
    entrypoint: ['/bin/sleep'],
    cmd: ['2147483647'],
  });
}

/**
 * Puts an image into containerd's `k8s.io` namespace without the CRI (`ctr images pull --plain-http`,
 * unpacked for the `native` snapshotter), as an operator importing an image behind criguard's back would.
 */
export async function importIntoContainerd(containerd: { socket: string }, ref: string): Promise<void> {
  await execFileAsync(
    'ctr',
    [
      '-a',
      containerd.socket,
      '-n',
      'k8s.io',
      'images',
      'pull',
      '--plain-http',
      '--snapshotter',
      'native',
      ref,
    ],
    { timeout: 60_000 },
  );
}
