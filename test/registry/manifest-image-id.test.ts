import test from 'ava';
import { manifestImageId } from '../../src/registry/manifest-image-id.js';
import { DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST } from '../../src/registry/media-types.js';

const CONFIG = `sha256:${'ab'.repeat(32)}`;
const fetched = (doc: unknown, mediaType: string) => ({
  bytes: new TextEncoder().encode(typeof doc === 'string' ? doc : JSON.stringify(doc)),
  digest: `sha256:${'00'.repeat(32)}`,
  mediaType,
});

test('an OCI or Docker image manifest names its config digest as the image id', (t) => {
  t.is(
    manifestImageId(
      fetched({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { digest: CONFIG } }, OCI_MANIFEST),
    ),
    CONFIG,
  );
  t.is(manifestImageId(fetched({ schemaVersion: 2, config: { digest: CONFIG } }, DOCKER_MANIFEST)), CONFIG);
});

test('anything else names no image id: an index, a body of another type, a bad digest, not JSON', (t) => {
  t.is(manifestImageId(fetched({ manifests: [], config: { digest: CONFIG } }, OCI_MANIFEST)), undefined);
  t.is(manifestImageId(fetched({ config: { digest: CONFIG } }, OCI_INDEX)), undefined);
  t.is(
    manifestImageId(fetched({ mediaType: OCI_INDEX, config: { digest: CONFIG } }, OCI_MANIFEST)),
    undefined,
  );
  t.is(manifestImageId(fetched({ config: { digest: 'sha256:abc' } }, OCI_MANIFEST)), undefined);
  t.is(manifestImageId(fetched({ config: { digest: CONFIG.toUpperCase() } }, OCI_MANIFEST)), undefined);
  t.is(manifestImageId(fetched('not json', OCI_MANIFEST)), undefined);
  t.is(manifestImageId(fetched({ config: null }, OCI_MANIFEST)), undefined);
});
