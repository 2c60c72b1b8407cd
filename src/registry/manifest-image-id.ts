import { DOCKER_MANIFEST, OCI_MANIFEST } from './media-types.js';
import type { FetchedManifest } from './registry-reads.js';
import { parseJson } from './registry-responses.js';

const SHA256 = /^sha256:[0-9a-f]{64}$/;

/**
 * The image id (config digest) a single-platform image manifest names, undefined for anything else (an
 * index, an artifact, an unreadable body). The manifest's own digest was checked when it was fetched, so
 * the answer is a fact about that digest: containerd reports the same id for the image it pulls from it.
 */
export function manifestImageId(manifest: FetchedManifest): string | undefined {
  if (manifest.mediaType !== OCI_MANIFEST && manifest.mediaType !== DOCKER_MANIFEST) return undefined;
  const doc = parseJson(manifest.bytes);
  if (typeof doc !== 'object' || doc === null || 'manifests' in doc) return undefined;
  const { mediaType, config } = doc as { mediaType?: unknown; config?: { digest?: unknown } };
  if (mediaType !== undefined && mediaType !== manifest.mediaType) return undefined;
  const digest = typeof config === 'object' && config !== null ? config.digest : undefined;
  return typeof digest === 'string' && SHA256.test(digest) ? digest : undefined;
}
