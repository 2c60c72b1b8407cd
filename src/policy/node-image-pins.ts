import { parseAllDocuments } from 'yaml';
import { isDigest } from '../reference/digest.js';
import { parseImageReference } from '../reference/image-reference.js';
import { SYSTEM_IMAGES } from './system-policy.js';

/**
 * `criguard policy pin-node-images`, the pure part: which `name@sha256:…` pins keep the images a node
 * runs now admitted, and the reviewed-by-a-human YAML fragment that carries them
 * (`criguard.nodeCriticalImages`, docs/policy.md). The command gathers the facts from containerd and
 * the static pod directory.
 */

/** One image the node runs or is configured to run, and what containerd holds for it. */
export interface NodeImage {
  /** Why it is on the list: `container NS/POD/NAME`, `sandbox image`, `static pod FILE`. */
  readonly why: string;
  /** The reference as configured or reported (a tag, a digest reference or an image id). */
  readonly reference: string;
  /** Containerd's repository digests for the image (`name@sha256:…`); empty when it holds none. */
  readonly repoDigests: readonly string[];
}

/** A pin and every reason it was made. */
export interface NodeImagePin {
  readonly pin: string;
  readonly why: readonly string[];
  /** The system policy also admits it when it carries the Kubernetes release signature. */
  readonly systemImage: boolean;
}

export interface NodeImagePins {
  readonly pins: readonly NodeImagePin[];
  /** Images no pin could be made for (containerd holds no digest under their name). */
  readonly unpinned: readonly { readonly why: string; readonly reference: string }[];
}

/**
 * The pins for `images`: a digest reference pins itself; otherwise containerd's repository digests
 * under the reference's own name (another name the same content is known by is not pinned: pin what
 * the node asks for, not what it happens to hold). An image id (`sha256:…`, what ListContainers
 * reports) takes every repository digest. Sorted, without duplicates.
 */
export function nodeImagePins(images: readonly NodeImage[]): NodeImagePins {
  const pins = new Map<string, Set<string>>();
  const unpinned: { why: string; reference: string }[] = [];
  for (const image of images) {
    const found = pinsFor(image);
    if (found.length === 0) unpinned.push({ why: image.why, reference: image.reference });
    for (const pin of found) {
      const whys = pins.get(pin) ?? new Set<string>();
      whys.add(image.why);
      pins.set(pin, whys);
    }
  }
  const systemNames = new Set(SYSTEM_IMAGES.map((i) => i.namePattern));
  return Object.freeze({
    pins: [...pins.keys()].sort().map((pin) =>
      Object.freeze({
        pin,
        why: Object.freeze([...(pins.get(pin) ?? [])].sort()),
        systemImage: systemNames.has(pin.slice(0, pin.indexOf('@'))),
      }),
    ),
    unpinned: Object.freeze(unpinned),
  });
}

function pinsFor(image: NodeImage): string[] {
  const wellFormed = image.repoDigests.filter((entry) => {
    const at = entry.lastIndexOf('@');
    const digest = entry.slice(at + 1);
    return at > 0 && digest.startsWith('sha256:') && isDigest(digest);
  });
  if (/^sha256:[0-9a-f]{64}$/.test(image.reference)) return wellFormed;
  let reference;
  try {
    reference = parseImageReference(image.reference);
  } catch {
    return [];
  }
  if (reference.digest !== undefined) {
    return reference.digest.startsWith('sha256:') ? [`${reference.name}@${reference.digest}`] : [];
  }
  return wellFormed.filter((entry) => entry.slice(0, entry.lastIndexOf('@')) === reference.name);
}

/** Most images one static pod manifest may name (containers, init and ephemeral containers). */
const MAX_IMAGES_PER_MANIFEST = 64;

/**
 * The images of the pods in a static pod manifest (YAML or JSON, one or several documents):
 * `spec.containers`, `spec.initContainers` and `spec.ephemeralContainers` of every `kind: Pod`.
 * Throws an Error naming the problem for text that is not YAML; documents that are not pods are skipped.
 */
export function staticPodImages(text: string): string[] {
  const docs = parseAllDocuments(text, { uniqueKeys: true, strict: true });
  const list = Array.isArray(docs) ? docs : [docs];
  const images: string[] = [];
  for (const doc of list) {
    if (doc.errors.length > 0) throw new Error(doc.errors[0]?.message.split('\n')[0] ?? 'invalid YAML');
    const pod: unknown = doc.toJS({ maxAliasCount: 100 });
    if (!isRecord(pod) || pod['kind'] !== 'Pod' || !isRecord(pod['spec'])) continue;
    for (const field of ['containers', 'initContainers', 'ephemeralContainers']) {
      const containers = pod['spec'][field];
      if (!Array.isArray(containers)) continue;
      for (const c of containers) {
        if (isRecord(c) && typeof c['image'] === 'string' && c['image'].length > 0) images.push(c['image']);
      }
    }
  }
  return [...new Set(images)].slice(0, MAX_IMAGES_PER_MANIFEST);
}

/**
 * The YAML fragment to review and merge into the policy: a header saying that a human must review it,
 * then `criguard.nodeCriticalImages`, each pin with why it is there, then what could not be pinned.
 */
export function formatNodeImagePins(result: NodeImagePins, context: { host: string; time: string }): string {
  const lines = [
    `# Node image pins generated by \`criguard policy pin-node-images\` on ${context.host} at ${context.time}.`,
    '#',
    '# REVIEW BY A HUMAN BEFORE USE. Every digest below is admitted by the policy with NO signature check.',
    '# These are the images this node runs (or is configured to run) now, which is not the same as the',
    '# images it should run: remove anything you do not recognise, and prefer signatures where the',
    '# publisher signs (globalPolicyEvaluationMode: ENABLE admits release-signed registry.k8s.io system',
    '# images without pins; they are marked below). Merge the list into the `criguard:` section of the',
    '# policy, then run `criguard policy check`.',
    'criguard:',
  ];
  if (result.pins.length === 0) lines.push('  nodeCriticalImages: []');
  else lines.push('  nodeCriticalImages:');
  for (const pin of result.pins) {
    for (const why of pin.why) lines.push(`    # ${oneLine(why)}`);
    if (pin.systemImage) lines.push('    # (also admitted by the system policy when release-signed)');
    lines.push(`    - ${JSON.stringify(pin.pin)}`);
  }
  if (result.unpinned.length > 0) {
    lines.push(
      '# Not pinned: containerd holds no digest for these under their own name (pull them, then run again):',
    );
    for (const u of result.unpinned) lines.push(`#   ${oneLine(u.why)}: ${oneLine(u.reference)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A comment line must stay one line (names come from containerd, labels and files). */
function oneLine(text: string): string {
  const flat = [...text].map((c) => (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f ? '?' : c)).join('');
  return flat.length > 300 ? `${flat.slice(0, 299)}…` : flat;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
