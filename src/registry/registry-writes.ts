import { isDigest } from '../reference/digest.js';
import { discardBody } from './bounded-body.js';
import { RegistryError } from './errors.js';
import { checkReference, digestOf, expectStatus } from './registry-responses.js';
import type { Send } from './registry-send.js';
import type { RegistryTarget } from './registry-targets.js';
import { describe } from './transport.js';

/** Uploads a blob monolithically unless the target has it; returns its sha256 digest. */
export async function putBlobAt(send: Send, t: RegistryTarget, bytes: Uint8Array): Promise<string> {
  const digest = digestOf(bytes);
  const blobUrl = new URL(`blobs/${digest}`, t.base);
  const head = await send(t, 'HEAD', blobUrl);
  await discardBody(head);
  if (head.status === 200) return digest;
  const startUrl = new URL('blobs/uploads/', t.base);
  const start = await send(t, 'POST', startUrl, { 'content-length': '0' });
  await discardBody(start);
  if (start.status !== 202) await expectStatus(start, startUrl, 202);
  const location = start.headers.get('location');
  let upload: URL;
  try {
    upload = new URL(location ?? '', t.base);
  } catch {
    throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', `upload ${describe(startUrl)}: bad Location`);
  }
  if (location === null)
    throw new RegistryError('CG_ERR_REGISTRY_PROTOCOL', `upload ${describe(startUrl)}: no Location`);
  upload.searchParams.set('digest', digest);
  const put = await send(t, 'PUT', upload, { 'content-type': 'application/octet-stream' }, bytes);
  await discardBody(put);
  await expectStatus(put, blobUrl, 201);
  return digest;
}

/**
 * PUTs a manifest under a tag or its digest; returns the sha256 digest of `bytes`. A registry that says it
 * stored another sha256 digest is refused (`CG_ERR_REGISTRY_DIGEST_MISMATCH`).
 */
export async function putManifestAt(
  send: Send,
  t: RegistryTarget,
  reference: string,
  bytes: Uint8Array,
  mediaType: string,
): Promise<string> {
  const url = new URL(`manifests/${checkReference(reference)}`, t.base);
  const res = await send(t, 'PUT', url, { 'content-type': mediaType }, bytes);
  await discardBody(res);
  await expectStatus(res, url, 201);
  const digest = digestOf(bytes);
  const header = res.headers.get('docker-content-digest');
  if (header !== null && isDigest(header) && header.startsWith('sha256:') && header !== digest) {
    throw new RegistryError(
      'CG_ERR_REGISTRY_DIGEST_MISMATCH',
      `manifest ${describe(url)}: registry stored another digest`,
    );
  }
  return digest;
}
