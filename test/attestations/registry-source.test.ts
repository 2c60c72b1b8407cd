import test from 'ava';
import { generateKeyPairSync, sign } from 'node:crypto';
import { AttestationError } from '../../src/attestations/errors.js';
import { pushCosignSignature } from '../../src/attestations/cosign-push.js';
import { createRegistrySource } from '../../src/attestations/registry-source.js';
import { RegistryError } from '../../src/registry/errors.js';
import {
  COSIGN_SIGNATURE_ANNOTATION,
  COSIGN_SIMPLE_SIGNING,
  OCI_CONFIG,
  OCI_MANIFEST,
} from '../../src/registry/media-types.js';
import { createRegistryClient } from '../../src/registry/registry-client.js';
import { parseTrustedKey } from '../../src/verify/public-key.js';
import { verifyAttestors } from '../../src/verify/verify-attestations.js';
import { freePort } from '../helpers/daemon.js';
import { pushBlob, pushImage, pushManifest } from '../helpers/images.js';
import { startRegistry, type Registry } from '../helpers/registry.js';

let registry: Registry | undefined;
test.before(async () => {
  registry = await startRegistry();
});
test.after.always(async () => {
  await registry?.dispose();
});
const reg = (): Registry => {
  if (!registry) throw new Error('registry not started');
  return registry;
};
const client = createRegistryClient({ timeoutMs: 20_000 });
test.after.always(() => client.close());
const source = createRegistrySource({ client, sigstoreBundles: false });

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const trusted = parseTrustedKey(
  'k1',
  publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  'ECDSA_P256_SHA256',
);

function cosignPayload(name: string, digest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': name },
        image: { 'docker-manifest-digest': digest },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
  );
}

/** Pushes a cosign-format `.sig` manifest by hand (no criguard code involved). */
async function pushSigManifest(
  name: string,
  digest: string,
  layers: { payload: Buffer; signature?: string; mediaType?: string }[],
) {
  const descs = [];
  for (const l of layers) {
    const d = await pushBlob(reg(), name, l.payload);
    descs.push({
      mediaType: l.mediaType ?? COSIGN_SIMPLE_SIGNING,
      digest: d,
      size: l.payload.length,
      annotations: l.signature === undefined ? {} : { [COSIGN_SIGNATURE_ANNOTATION]: l.signature },
    });
  }
  const config = Buffer.from('{}');
  const configDigest = await pushBlob(reg(), name, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: 2 },
      layers: descs,
    }),
  );
  await pushManifest(reg(), name, `sha256-${digest.slice(7)}.sig`, manifest, OCI_MANIFEST);
}

test('cosign .sig: exact payload bytes and signature come back, and verify', async (t) => {
  const img = await pushImage(reg(), { name: 'cg/signed', variant: 'signed' });
  const name = `${img.host}/${img.name}`;
  const payload = cosignPayload(name, img.digest);
  const signature = sign('sha256', payload, privateKey);
  await pushSigManifest(img.name, img.digest, [
    { payload, signature: signature.toString('base64') },
    {
      payload: Buffer.from('not a signature layer'),
      mediaType: 'application/octet-stream',
      signature: 'AAAA',
    },
    { payload: Buffer.from('no annotation') },
  ]);
  const skipped: string[] = [];
  const withSkips = createRegistrySource({
    client,
    sigstoreBundles: false,
    onSkipped: (_w, r) => skipped.push(r),
  });
  const records = await withSkips.fetch({ name: name, digest: img.digest }, undefined);
  t.is(records.length, 1);
  t.deepEqual(Buffer.from(records[0]!.payload), payload);
  t.deepEqual(Buffer.from(records[0]!.signatures[0]!.signature), signature);
  t.is(records[0]!.signatures[0]!.publicKeyId, undefined);
  t.deepEqual(skipped.sort(), ['media-type', 'signature-annotation']);
  const [outcome] = await verifyAttestors(
    [{ name: 'a', keys: [trusted], threshold: 1 }],
    { name, digest: img.digest },
    records,
    {
      bindDockerReference: true,
    },
  );
  t.true(outcome?.satisfied);
});

test('no .sig tag → no records (not an error)', async (t) => {
  const img = await pushImage(reg(), { name: 'cg/unsigned', variant: 'unsigned' });
  t.deepEqual(await source.fetch({ name: `${img.host}/${img.name}`, digest: img.digest }, undefined), []);
});

test('too many signature layers → CG_ERR_ATTESTATION_LIMIT', async (t) => {
  const img = await pushImage(reg(), { name: 'cg/many', variant: 'many' });
  const layers = Array.from({ length: 5 }, (_, i) => ({ payload: Buffer.from(`p${i}`), signature: 'AAAA' }));
  await pushSigManifest(img.name, img.digest, layers);
  const small = createRegistrySource({ client, sigstoreBundles: false, limits: { maxSignatureLayers: 4 } });
  const err = await t.throwsAsync(
    small.fetch({ name: `${img.host}/${img.name}`, digest: img.digest }, undefined),
    {
      instanceOf: AttestationError,
    },
  );
  t.is(err?.code, 'CG_ERR_ATTESTATION_LIMIT');
});

test('oversized payload layers are skipped without download', async (t) => {
  const img = await pushImage(reg(), { name: 'cg/big', variant: 'big' });
  await pushSigManifest(img.name, img.digest, [{ payload: Buffer.alloc(2048, 0x41), signature: 'AAAA' }]);
  const small = createRegistrySource({ client, sigstoreBundles: false, limits: { maxPayloadBytes: 1024 } });
  t.deepEqual(await small.fetch({ name: `${img.host}/${img.name}`, digest: img.digest }, undefined), []);
});

test('a .sig tag that is not a manifest → CG_ERR_REGISTRY_PROTOCOL', async (t) => {
  const img = await pushImage(reg(), { name: 'cg/garbage', variant: 'garbage' });
  const index = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }),
  );
  await pushManifest(
    reg(),
    img.name,
    `sha256-${img.digest.slice(7)}.sig`,
    index,
    'application/vnd.oci.image.index.v1+json',
  );
  const err = await t.throwsAsync(
    source.fetch({ name: `${img.host}/${img.name}`, digest: img.digest }, undefined),
    {
      instanceOf: RegistryError,
    },
  );
  t.is(err?.code, 'CG_ERR_REGISTRY_PROTOCOL');
});

test('registry down → CG_ERR_REGISTRY_UNAVAILABLE', async (t) => {
  const port = await freePort();
  const err = await t.throwsAsync(
    source.fetch({ name: `127.0.0.1:${port}/cg/x`, digest: `sha256:${'a'.repeat(64)}` }, undefined),
    {
      instanceOf: RegistryError,
    },
  );
  t.is(err?.code, 'CG_ERR_REGISTRY_UNAVAILABLE');
});

test('pushCosignSignature: creates, appends, is idempotent, and round-trips through the source', async (t) => {
  const img = await pushImage(reg(), { name: 'cg/pushsig', variant: 'pushsig' });
  const name = `${img.host}/${img.name}`;
  const payload = cosignPayload(name, img.digest);
  const sig1 = sign('sha256', payload, privateKey);
  const sig2 = sign('sha256', payload, privateKey);
  const first = await pushCosignSignature(client, { name, digest: img.digest }, payload, sig1);
  t.true(first.added);
  t.is(first.tag, `sha256-${img.digest.slice(7)}.sig`);
  const again = await pushCosignSignature(client, { name, digest: img.digest }, payload, sig1);
  t.false(again.added);
  t.is(again.manifestDigest, first.manifestDigest);
  const second = await pushCosignSignature(client, { name, digest: img.digest }, payload, sig2);
  t.true(second.added);
  const records = await source.fetch({ name: name, digest: img.digest }, undefined);
  t.deepEqual(
    records.map((r) => Buffer.from(r.signatures[0]!.signature).toString('base64')),
    [sig1.toString('base64'), sig2.toString('base64')],
  );
  const [outcome] = await verifyAttestors(
    [{ name: 'a', keys: [trusted], threshold: 1 }],
    { name, digest: img.digest },
    records,
    {
      bindDockerReference: false,
    },
  );
  t.true(outcome?.satisfied);
  const full = await t.throwsAsync(
    pushCosignSignature(client, { name, digest: img.digest }, Buffer.from('other'), sig1, { maxLayers: 2 }),
    { instanceOf: AttestationError },
  );
  t.is(full?.code, 'CG_ERR_ATTESTATION_LIMIT');
});

test('cosign 3 Sigstore bundle via the sha256-<hex> referrers tag → a DSSE record over the PAE', async (t) => {
  const { encodeDssePae, checkInTotoStatement, IN_TOTO_PAYLOAD_TYPE } =
    await import('../../src/verify/dsse.js');
  const { SIGSTORE_BUNDLE_V03, OCI_INDEX, OCI_EMPTY } = await import('../../src/registry/media-types.js');
  const img = await pushImage(reg(), { name: 'cg/bundle', variant: 'bundle' });
  const name = `${img.host}/${img.name}`;
  const statement = Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name, digest: { sha256: img.digest.slice(7) } }],
      predicateType: 'https://sigstore.dev/cosign/sign/v1',
      predicate: {},
    }),
  );
  const pae = encodeDssePae(IN_TOTO_PAYLOAD_TYPE, statement);
  const sig = sign('sha256', pae, privateKey);
  const bundle = Buffer.from(
    JSON.stringify({
      mediaType: SIGSTORE_BUNDLE_V03,
      verificationMaterial: {
        publicKey: { hint: '' },
        tlogEntries: [],
        timestampVerificationData: { rfc3161Timestamps: [] },
      },
      dsseEnvelope: {
        payload: statement.toString('base64'),
        payloadType: IN_TOTO_PAYLOAD_TYPE,
        signatures: [{ sig: sig.toString('base64'), keyid: '' }],
      },
    }),
  );
  const bundleDigest = await pushBlob(reg(), img.name, bundle);
  const empty = Buffer.from('{}');
  const emptyDigest = await pushBlob(reg(), img.name, empty);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: SIGSTORE_BUNDLE_V03,
      config: { mediaType: OCI_EMPTY, digest: emptyDigest, size: 2 },
      layers: [{ mediaType: SIGSTORE_BUNDLE_V03, digest: bundleDigest, size: bundle.length }],
      subject: { mediaType: OCI_MANIFEST, digest: img.digest, size: img.manifest.length },
    }),
  );
  const manifestDigest = await pushManifest(reg(), img.name, 'bundle-sig', manifest, OCI_MANIFEST);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          digest: manifestDigest,
          size: manifest.length,
          artifactType: SIGSTORE_BUNDLE_V03,
        },
      ],
    }),
  );
  await pushManifest(reg(), img.name, `sha256-${img.digest.slice(7)}`, index, OCI_INDEX);
  const both = createRegistrySource({ client });
  const records = await both.fetch({ name: name, digest: img.digest }, undefined);
  t.is(records.length, 1);
  t.deepEqual(Buffer.from(records[0]!.payload), Buffer.from(pae));
  t.deepEqual(Buffer.from(records[0]!.signatures[0]!.signature), sig);
  t.is(checkInTotoStatement(records[0]!.payload, img.digest), 'OK');
});

test('fallbackCredentials: asked only for fetches without credentials, with the image name', async (t) => {
  const img = await pushImage(reg(), { name: 'cg/fallback-creds', variant: 'fallback-creds' });
  const name = `${img.host}/${img.name}`;
  const asked: string[] = [];
  const lazy = createRegistrySource({
    client,
    sigstoreBundles: false,
    fallbackCredentials: async (imageName) => {
      asked.push(imageName);
      return undefined;
    },
  });
  t.deepEqual(await lazy.fetch({ name, digest: img.digest }, { username: 'u', password: 'p' }), []);
  t.deepEqual(asked, [], 'the kubelet’s credentials are used as they are');
  t.deepEqual(await lazy.fetch({ name, digest: img.digest }, undefined), []);
  t.deepEqual(asked, [name]);
});
