import { LRUCache } from 'lru-cache';
import type { ImageIdentity } from '../reference/image-reference.js';

/** Image ids remembered (most recently used kept); each with at most MAX_NAMES_PER_IMAGE names. */
export const MAX_IMAGES_REMEMBERED = 4096;
export const MAX_NAMES_PER_IMAGE = 16;

/**
 * One content fact: the manifest `identity` (a registry name and a manifest digest, what a verdict is
 * about) has the image id `imageId` (its config digest). `reported` are the digests an audit record names
 * for it: the manifest's, or an index's then its platform manifest's.
 */
export interface JudgedImage {
  readonly identity: ImageIdentity;
  readonly imageId: string;
  readonly reported: readonly string[];
}

/**
 * What criguard has learnt about image ids, for the gated calls' fast paths (docs/adr/0006): which judged
 * manifests (name@digest) have which image id (config digest).
 *
 * Only content facts are kept, never verdicts: a manifest digest fixes its config digest, and an image id
 * (the config digest) fixes the layers that run (`rootfs.diff_ids`, checked by containerd when it
 * unpacks). So a fact never goes stale: the verdict for the manifest is asked of the image judge again at
 * every use, under the policy of that moment (the verdict cache is keyed by policy revision, rule, name
 * and digest). Facts come from containerd's own answers (a PullImage confirm: containerd pulled that
 * digest and reports that image id; a CreateContainer whose image status carried that id) or from a
 * manifest criguard fetched and hashed itself. Bounded: least recently used image ids are forgotten,
 * which only sends the next call the slow way.
 */
export class JudgedImages {
  private readonly byImageId = new LRUCache<string, JudgedImage[]>({ max: MAX_IMAGES_REMEMBERED });
  private readonly byIdentity = new LRUCache<string, string>({
    max: MAX_IMAGES_REMEMBERED * 4,
  });

  /** Records that `identity`'s image id is `imageId`. */
  learn(fact: JudgedImage): void {
    const key = identityKey(fact.identity);
    this.byIdentity.set(key, fact.imageId);
    const known = this.byImageId.get(fact.imageId) ?? [];
    const rest = known.filter((k) => identityKey(k.identity) !== key);
    // The latest first; the oldest name is forgotten past the bound.
    this.byImageId.set(fact.imageId, [fact, ...rest].slice(0, MAX_NAMES_PER_IMAGE));
  }

  /** The judged manifests known to have this image id (none when unknown). */
  manifestsOf(imageId: string): readonly JudgedImage[] {
    return this.byImageId.get(imageId) ?? [];
  }

  /** The image id of a judged manifest, if known. */
  imageIdOf(identity: ImageIdentity): string | undefined {
    return this.byIdentity.get(identityKey(identity));
  }

  get size(): number {
    return this.byImageId.size;
  }
}

function identityKey(identity: ImageIdentity): string {
  return `${identity.name}@${identity.digest}`;
}
