import { lstatSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { createContainerdClient } from '../cri/containerd-client.js';
import { readRegularFileSync } from '../files/read-regular-file.js';
import { formatNodeImagePins, nodeImagePins, staticPodImages } from '../policy/node-image-pins.js';
import type { NodeImage } from '../policy/node-image-pins.js';
import type { Command } from './command.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { parseOptions } from './parse-options.js';

const DEFAULT_SOCKET = '/run/containerd/containerd.sock';
const DEFAULT_STATIC_POD_DIR = '/etc/kubernetes/manifests';
/** Bounds on what is read from the static pod directory. */
const MAX_MANIFESTS = 256;
const MAX_MANIFEST_BYTES = 1024 * 1024;
const MANIFEST = /\.(ya?ml|json)$/;

/**
 * `criguard policy pin-node-images`: the digest pins of the images this node runs now (running
 * containers, the sandbox image, static pod images), as a YAML fragment for `criguard.nodeCriticalImages`
 * with a header saying it must be reviewed. Reads containerd directly (not through criguard: it must see
 * what runs, and it changes nothing).
 */
export const policyPinNodeImagesCommand: Command = {
  name: 'policy pin-node-images',
  summary: 'print digest pins (criguard.nodeCriticalImages) for the images this node runs now',
  usage: [
    'Usage: criguard policy pin-node-images [--containerd-socket PATH] [--static-pod-dir DIR] [--output FILE|-]',
    '',
    'Pins, by digest, the image of every running container, the sandbox image containerd is configured',
    'with, and the images of the static pods in DIR, as they are held by containerd now. The output is a',
    'YAML fragment (criguard.nodeCriticalImages) to REVIEW and merge into the policy: every pin is',
    'admitted without a signature check.',
    '',
    `  --containerd-socket PATH  containerd's CRI socket (default ${DEFAULT_SOCKET})`,
    `  --static-pod-dir DIR      the kubelet's staticPodPath (default ${DEFAULT_STATIC_POD_DIR}; skipped`,
    '                            when the default does not exist)',
    '  --output FILE|-           where to write the fragment (default -, stdout)',
    '',
    'Exit codes: 0 written, 1 containerd unreachable or a file unreadable, 64 usage.',
  ].join('\n'),
  async run(args, io) {
    const { values, positionals } = parseOptions(
      args,
      {
        'containerd-socket': { type: 'string' },
        'static-pod-dir': { type: 'string' },
        output: { type: 'string' },
      },
      true,
    );
    if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0] ?? ''}`);
    const socket = values['containerd-socket'] ?? DEFAULT_SOCKET;
    const output = values.output ?? '-';
    if (output === '') throw new UsageError('--output needs a file or -');
    let staticPods: NodeImage[];
    try {
      staticPods = readStaticPods(values['static-pod-dir'] ?? DEFAULT_STATIC_POD_DIR, {
        required: values['static-pod-dir'] !== undefined,
      });
    } catch (err) {
      io.stderr(`criguard policy pin-node-images: ${(err as Error).message}\n`);
      return ExitCode.DENIED_OR_FAILED;
    }
    const containerd = createContainerdClient(socket);
    let images: NodeImage[];
    try {
      images = [...(await fromContainerd(containerd)), ...(await withDigests(containerd, staticPods))];
    } catch (err) {
      io.stderr(`criguard policy pin-node-images: containerd at ${socket}: ${(err as Error).message}\n`);
      return ExitCode.DENIED_OR_FAILED;
    } finally {
      containerd.close();
    }
    const result = nodeImagePins(images);
    const text = formatNodeImagePins(result, { host: hostname(), time: new Date().toISOString() });
    if (output === '-') io.stdout(text);
    else {
      try {
        const tmp = join(dirname(output), `.${process.pid}.pin-node-images.tmp`);
        writeFileSync(tmp, text, { mode: 0o644, flag: 'wx' });
        renameSync(tmp, output);
      } catch (err) {
        io.stderr(`criguard policy pin-node-images: cannot write ${output}: ${(err as Error).message}\n`);
        return ExitCode.DENIED_OR_FAILED;
      }
    }
    io.stderr(
      `${result.pins.length} pin(s) from ${images.length} image(s)` +
        (result.unpinned.length > 0
          ? `; ${result.unpinned.length} not pinned (see the end of the output)`
          : '') +
        '. Review them before use.\n',
    );
    return ExitCode.OK;
  },
};

type Containerd = ReturnType<typeof createContainerdClient>;

/**
 * Running containers and the configured sandbox image, as containerd holds them. A container's image is
 * named by its only tag when it has one (pins stay under that name), else by its image id (every
 * repository digest containerd knows for it is pinned).
 */
async function fromContainerd(containerd: Containerd): Promise<NodeImage[]> {
  const signal = AbortSignal.timeout(15_000);
  const images: NodeImage[] = [];
  for (const c of (await containerd.listRunning(signal)).slice(0, 4096)) {
    const held = c.image === '' ? undefined : await containerd.lookup(c.image, signal);
    const tag = held?.repoTags.length === 1 ? held.repoTags[0] : undefined;
    images.push({
      why: `container ${c.namespace || '?'}/${c.podName || '?'}/${c.name || c.id}`,
      reference: tag ?? c.image,
      repoDigests: held?.repoDigests ?? [],
    });
  }
  const sandbox = await containerd.sandboxImage(signal);
  if (sandbox !== undefined) {
    images.push({
      why: 'sandbox image (containerd config)',
      reference: sandbox.reference,
      repoDigests: sandbox.repoDigests,
    });
  }
  return images;
}

/**
 * Static pod images with what containerd holds for them (a digest reference needs nothing). A reference
 * containerd refuses is reported as not pinned; containerd being down is an error.
 */
async function withDigests(containerd: Containerd, images: readonly NodeImage[]): Promise<NodeImage[]> {
  const signal = AbortSignal.timeout(15_000);
  const out: NodeImage[] = [];
  for (const image of images) {
    let held;
    try {
      held = await containerd.lookup(image.reference, signal);
    } catch (err) {
      if (!(await containerd.ping())) throw err;
    }
    out.push({ ...image, repoDigests: held?.repoDigests ?? [] });
  }
  return out;
}

/** The images of the static pod manifests in `dir` (regular files only, bounded). */
function readStaticPods(dir: string, opts: { required: boolean }): NodeImage[] {
  let names: string[];
  try {
    if (!lstatSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
    names = readdirSync(dir).filter((n) => MANIFEST.test(n) && !n.startsWith('.'));
  } catch (err) {
    if (!opts.required && (err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`static pod directory ${dir}: ${(err as Error).message}`);
  }
  if (names.length > MAX_MANIFESTS) throw new Error(`${dir}: more than ${MAX_MANIFESTS} manifests`);
  const images: NodeImage[] = [];
  for (const name of names.sort()) {
    const path = join(dir, name);
    const text = readRegularFileSync(path, { maxBytes: MAX_MANIFEST_BYTES }).bytes.toString('utf8');
    let found: string[];
    try {
      found = staticPodImages(text);
    } catch (err) {
      throw new Error(`${path}: not a pod manifest: ${(err as Error).message}`);
    }
    for (const reference of found) images.push({ why: `static pod ${path}`, reference, repoDigests: [] });
  }
  return images;
}
