import { inspect } from 'node:util';
import test from 'ava';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRegistryClient } from '../../src/registry/registry-client.js';
import { RegistryError } from '../../src/registry/errors.js';
import { OCI_MANIFEST } from '../../src/registry/media-types.js';
import { sha256Digest } from '../helpers/images.js';
import { startFakeServer, type FakeServer } from './fake-http-server.js';

const MANIFEST = Buffer.from(
  JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: {}, layers: [] }),
);
const DIGEST = sha256Digest(MANIFEST);
const PASSWORD = 's3cret-Pa55word';
const CREDS = { username: 'alice', password: PASSWORD };
const BASIC = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`;

async function fake(
  t: { teardown: (fn: () => Promise<void>) => void },
  handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
): Promise<FakeServer> {
  const s = await startFakeServer(handler);
  t.teardown(() => s.close());
  return s;
}

function serveManifest(res: ServerResponse, body: Buffer = MANIFEST, digest = sha256Digest(body)): void {
  res.writeHead(200, {
    'content-type': OCI_MANIFEST,
    'docker-content-digest': digest,
    'content-length': body.length,
  });
  res.end(body);
}

function assertNoSecret(t: { false: (v: boolean, m?: string) => void }, err: unknown): void {
  const text = `${String(err)} ${inspect(err, { depth: 5 })}`;
  t.false(text.includes(PASSWORD), 'password in error');
  t.false(text.includes(BASIC.slice(6)), 'basic credentials in error');
}

/** A token server that records whether it received credentials and hands out `tok-<n>`. */
async function tokenServer(t: Parameters<typeof fake>[0], expiresIn = 300) {
  let issued = 0;
  const server = await fake(t, (req, res) => {
    issued++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `tok-${issued}`, expires_in: expiresIn }));
  });
  return { server, issued: () => issued };
}

/** A registry requiring `Bearer <any tok->` and challenging with the given realm. */
async function bearerRegistry(t: Parameters<typeof fake>[0], realm: () => string) {
  return fake(t, (req, res) => {
    if (!req.headers.authorization?.startsWith('Bearer tok-')) {
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="${realm()}",service="fake",scope="repository:cg/app:pull"`,
      });
      res.end();
      return;
    }
    serveManifest(res);
  });
}

test('Bearer flow: anonymous token from a realm on another host; credentials not sent there', async (t) => {
  const tokens = await tokenServer(t);
  const registry = await bearerRegistry(t, () => `http://${tokens.server.host}/token`);
  const client = createRegistryClient();
  t.teardown(() => client.close());
  const got = await client.getManifest(`${registry.host}/cg/app`, 'v1', { credentials: CREDS });
  t.is(got.digest, DIGEST);
  const tokenReq = tokens.server.seen[0];
  t.is(tokenReq?.headers.authorization, undefined);
  const q = new URL(tokenReq?.url ?? '', 'http://x').searchParams;
  t.is(q.get('scope'), 'repository:cg/app:pull');
  t.is(q.get('service'), 'fake');
  t.is(registry.seen.at(-1)?.headers.authorization, 'Bearer tok-1');
});

test('Bearer flow: credentials go to a realm host configured for the registry', async (t) => {
  const tokens = await tokenServer(t);
  const registry = await bearerRegistry(t, () => `http://${tokens.server.host}/token`);
  const client = createRegistryClient({
    hosts: { [registry.host]: { credentialRealmHosts: [tokens.server.host] } },
  });
  t.teardown(() => client.close());
  await client.getManifest(`${registry.host}/cg/app`, 'v1', { credentials: CREDS });
  t.is(tokens.server.seen[0]?.headers.authorization, BASIC);
});

test('Bearer flow: realm on the registry host itself receives Basic credentials; token cached until expiry', async (t) => {
  let now = 1_000_000;
  let issued = 0;
  const tokenAuth: (string | undefined)[] = [];
  const registry = await fake(t, (req, res) => {
    if (req.url?.startsWith('/token')) {
      tokenAuth.push(req.headers.authorization);
      issued++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: `tok-${issued}`, expires_in: 60 }));
      return;
    }
    if (!req.headers.authorization?.startsWith('Bearer tok-')) {
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="http://${req.headers.host}/token",service="fake"`,
      });
      res.end();
      return;
    }
    serveManifest(res);
  });
  const client = createRegistryClient({ now: () => now });
  t.teardown(() => client.close());
  const name = `${registry.host}/cg/app`;
  await client.getManifest(name, 'v1', { credentials: CREDS });
  await client.getManifest(name, 'v1', { credentials: CREDS });
  t.is(issued, 1);
  t.deepEqual(tokenAuth, [BASIC]);
  // another identity does not reuse alice's token
  await client.getManifest(name, 'v1');
  t.is(issued, 2);
  t.is(tokenAuth[1], undefined);
  now += 61_000;
  await client.getManifest(name, 'v1', { credentials: CREDS });
  t.is(issued, 3);
});

test('Bearer flow: still 401 with the token → CG_ERR_REGISTRY_DENIED; token service 401 → DENIED; no secret in errors', async (t) => {
  const tokens = await tokenServer(t);
  const registry = await fake(t, (_req, res) => {
    res.writeHead(401, {
      'www-authenticate': `Bearer realm="http://${tokens.server.host}/token",service="fake"`,
    });
    res.end();
  });
  const client = createRegistryClient({
    hosts: { [registry.host]: { credentialRealmHosts: [tokens.server.host] } },
  });
  t.teardown(() => client.close());
  const err = await t.throwsAsync(
    client.getManifest(`${registry.host}/cg/app`, 'v1', { credentials: CREDS }),
    {
      instanceOf: RegistryError,
    },
  );
  t.is(err?.code, 'CG_ERR_REGISTRY_DENIED');
  assertNoSecret(t, err);

  const refusing = await fake(t, (_req, res) => {
    res.writeHead(401);
    res.end();
  });
  const registry2 = await bearerRegistry(t, () => `http://${refusing.host}/token`);
  const client2 = createRegistryClient({
    hosts: { [registry2.host]: { credentialRealmHosts: [refusing.host] } },
  });
  t.teardown(() => client2.close());
  const err2 = await t.throwsAsync(
    client2.getManifest(`${registry2.host}/cg/app`, 'v1', { credentials: CREDS }),
    {
      instanceOf: RegistryError,
    },
  );
  t.is(err2?.code, 'CG_ERR_REGISTRY_DENIED');
  assertNoSecret(t, err2);
});

test('Basic challenge → retried with Basic; without credentials → CG_ERR_REGISTRY_DENIED', async (t) => {
  const registry = await fake(t, (req, res) => {
    if (req.headers.authorization !== BASIC) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"' });
      res.end();
      return;
    }
    serveManifest(res);
  });
  const client = createRegistryClient();
  t.teardown(() => client.close());
  const name = `${registry.host}/cg/app`;
  t.is(
    (
      await client.getManifest(name, 'v1', {
        credentials: { auth: Buffer.from(`alice:${PASSWORD}`).toString('base64') },
      })
    ).digest,
    DIGEST,
  );
  const err = await t.throwsAsync(client.getManifest(name, 'v1'), { instanceOf: RegistryError });
  t.is(err?.code, 'CG_ERR_REGISTRY_DENIED');
});

test('registry_token credentials are sent as Bearer to the registry only', async (t) => {
  const registry = await fake(t, (req, res) => {
    if (req.headers.authorization !== 'Bearer reg-token-xyz') {
      res.writeHead(401);
      res.end();
      return;
    }
    serveManifest(res);
  });
  const client = createRegistryClient();
  t.teardown(() => client.close());
  t.is(
    (
      await client.getManifest(`${registry.host}/cg/app`, 'v1', {
        credentials: { registryToken: 'reg-token-xyz' },
      })
    ).digest,
    DIGEST,
  );
});

for (const status of [429, 500, 502, 503]) {
  test(`HTTP ${status} → CG_ERR_REGISTRY_UNAVAILABLE`, async (t) => {
    const registry = await fake(t, (_req, res) => {
      res.writeHead(status);
      res.end('busy');
    });
    const client = createRegistryClient();
    t.teardown(() => client.close());
    const err = await t.throwsAsync(client.resolve(`${registry.host}/cg/app:v1`), {
      instanceOf: RegistryError,
    });
    t.is(err?.code, 'CG_ERR_REGISTRY_UNAVAILABLE');
    t.is(err?.status, status);
  });
}

test('403 → CG_ERR_REGISTRY_DENIED; 400 → CG_ERR_REGISTRY_PROTOCOL', async (t) => {
  let status = 403;
  const registry = await fake(t, (_req, res) => {
    res.writeHead(status);
    res.end();
  });
  const client = createRegistryClient();
  t.teardown(() => client.close());
  t.is(
    (await t.throwsAsync(client.getManifest(`${registry.host}/cg/app`, 'v1'), { instanceOf: RegistryError }))
      ?.code,
    'CG_ERR_REGISTRY_DENIED',
  );
  status = 400;
  t.is(
    (await t.throwsAsync(client.getManifest(`${registry.host}/cg/app`, 'v1'), { instanceOf: RegistryError }))
      ?.code,
    'CG_ERR_REGISTRY_PROTOCOL',
  );
});

test('a registry that never answers → CG_ERR_REGISTRY_UNAVAILABLE within the operation timeout', async (t) => {
  const registry = await fake(t, () => undefined);
  const client = createRegistryClient({ timeoutMs: 300 });
  t.teardown(() => client.close());
  const started = Date.now();
  const err = await t.throwsAsync(client.getManifest(`${registry.host}/cg/app`, 'v1'), {
    instanceOf: RegistryError,
  });
  t.is(err?.code, 'CG_ERR_REGISTRY_UNAVAILABLE');
  t.true(Date.now() - started < 5_000);
});

test('a body that trickles forever → CG_ERR_REGISTRY_UNAVAILABLE; caller abort too', async (t) => {
  const registry = await fake(t, (_req, res) => {
    res.writeHead(200, { 'content-type': OCI_MANIFEST });
    res.write('{');
  });
  const client = createRegistryClient({ timeoutMs: 300 });
  t.teardown(() => client.close());
  const err = await t.throwsAsync(client.getManifest(`${registry.host}/cg/app`, 'v1'), {
    instanceOf: RegistryError,
  });
  t.is(err?.code, 'CG_ERR_REGISTRY_UNAVAILABLE');
  const slow = createRegistryClient({ timeoutMs: 60_000 });
  t.teardown(() => slow.close());
  const err2 = await t.throwsAsync(
    slow.getManifest(`${registry.host}/cg/app`, 'v1', { signal: AbortSignal.timeout(200) }),
    {
      instanceOf: RegistryError,
    },
  );
  t.is(err2?.code, 'CG_ERR_REGISTRY_UNAVAILABLE');
});

test('oversized manifest: declared length or streamed past the cap → CG_ERR_REGISTRY_LIMIT', async (t) => {
  let sent = 0;
  const registry = await fake(t, (req, res) => {
    if (req.url?.includes('declared')) {
      res.writeHead(200, { 'content-type': OCI_MANIFEST, 'content-length': String(5 * 1024 * 1024) });
      res.write(Buffer.alloc(1024));
      return;
    }
    res.writeHead(200, { 'content-type': OCI_MANIFEST }); // chunked, no length
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const pump = (): void => {
      while (!res.destroyed && sent < 64 * 1024 * 1024) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const client = createRegistryClient({ limits: { maxManifestBytes: 1024 * 1024 } });
  t.teardown(() => client.close());
  const name = `${registry.host}/cg/app`;
  t.is(
    (await t.throwsAsync(client.getManifest(name, 'declared'), { instanceOf: RegistryError }))?.code,
    'CG_ERR_REGISTRY_LIMIT',
  );
  t.is(
    (await t.throwsAsync(client.getManifest(name, 'chunked'), { instanceOf: RegistryError }))?.code,
    'CG_ERR_REGISTRY_LIMIT',
  );
  t.true(sent < 32 * 1024 * 1024, `server sent ${sent} bytes before the client hung up`);
});

test('digest mismatch: other bytes for a digest, or a lying Docker-Content-Digest → CG_ERR_REGISTRY_DIGEST_MISMATCH', async (t) => {
  const other = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: {}, layers: [], x: 1 }),
  );
  const registry = await fake(t, (req, res) => {
    if (req.url?.includes('/blobs/')) {
      res.writeHead(200);
      res.end(other);
      return;
    }
    serveManifest(res, other, req.url?.includes('lying') ? DIGEST : sha256Digest(other));
  });
  const client = createRegistryClient();
  t.teardown(() => client.close());
  const name = `${registry.host}/cg/app`;
  for (const call of [
    client.getManifest(name, DIGEST),
    client.getManifest(name, 'lying'),
    client.resolve(`${name}@${DIGEST}`, { verifyContent: true }),
    client.getBlob(name, DIGEST),
  ]) {
    t.is((await t.throwsAsync(call, { instanceOf: RegistryError }))?.code, 'CG_ERR_REGISTRY_DIGEST_MISMATCH');
  }
});

test('HEAD without Docker-Content-Digest: resolve GETs and hashes the body', async (t) => {
  const registry = await fake(t, (req, res) => {
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-type': OCI_MANIFEST });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': OCI_MANIFEST });
    res.end(MANIFEST);
  });
  const client = createRegistryClient();
  t.teardown(() => client.close());
  t.deepEqual(await client.resolve(`${registry.host}/cg/app:v1`), {
    digest: DIGEST,
    mediaType: OCI_MANIFEST,
    size: MANIFEST.length,
  });
});

test('blob redirect to another host: followed, Authorization not forwarded, credentials never sent there', async (t) => {
  const blob = Buffer.from('signature payload');
  const storage = await fake(t, (_req, res) => {
    res.writeHead(200);
    res.end(blob);
  });
  const registry = await fake(t, (req, res) => {
    if (req.headers.authorization !== BASIC) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"' });
      res.end();
      return;
    }
    res.writeHead(307, { location: `http://${storage.host}/data?sig=abc` });
    res.end();
  });
  const client = createRegistryClient();
  t.teardown(() => client.close());
  const got = await client.getBlob(`${registry.host}/cg/app`, sha256Digest(blob), { credentials: CREDS });
  t.deepEqual(Buffer.from(got), blob);
  t.is(storage.seen.length, 1);
  t.is(storage.seen[0]?.headers.authorization, undefined);
  t.false(JSON.stringify(storage.seen).includes(PASSWORD));
});

test('redirect loop → CG_ERR_REGISTRY_LIMIT; plain-HTTP redirect to a non-loopback host → PROTOCOL', async (t) => {
  const registry = await fake(t, (req, res) => {
    res.writeHead(302, {
      location: req.url?.includes('away') ? 'http://registry.example.com/x' : (req.url ?? '/'),
    });
    res.end();
  });
  const client = createRegistryClient({ maxRedirects: 3 });
  t.teardown(() => client.close());
  const name = `${registry.host}/cg/app`;
  t.is(
    (await t.throwsAsync(client.getManifest(name, 'loop'), { instanceOf: RegistryError }))?.code,
    'CG_ERR_REGISTRY_LIMIT',
  );
  t.is(
    (await t.throwsAsync(client.getManifest(name, 'away'), { instanceOf: RegistryError }))?.code,
    'CG_ERR_REGISTRY_PROTOCOL',
  );
});

test('a registry configured as TLS is never spoken to in plain HTTP', async (t) => {
  const registry = await fake(t, (_req, res) => serveManifest(res));
  const client = createRegistryClient({ hosts: { [registry.host]: { plainHttp: false } }, timeoutMs: 3_000 });
  t.teardown(() => client.close());
  const err = await t.throwsAsync(client.getManifest(`${registry.host}/cg/app`, 'v1'), {
    instanceOf: RegistryError,
  });
  t.is(err?.code, 'CG_ERR_REGISTRY_UNAVAILABLE'); // TLS handshake against a plain server fails
  t.is(registry.seen.length, 0);
});

test('referrers: entries over the limit → CG_ERR_REGISTRY_LIMIT; filtered by artifactType', async (t) => {
  let count = 3;
  const registry = await fake(t, (_req, res) => {
    const manifests = Array.from({ length: count }, (_, i) => ({
      mediaType: OCI_MANIFEST,
      digest: sha256Digest(Buffer.from(String(i))),
      size: 10,
      artifactType: i === 0 ? 'a/b' : 'c/d',
    }));
    res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' });
    res.end(JSON.stringify({ schemaVersion: 2, manifests }));
  });
  const client = createRegistryClient({ limits: { maxReferrers: 10 } });
  t.teardown(() => client.close());
  const name = `${registry.host}/cg/app`;
  t.is((await client.referrers(name, DIGEST, 'a/b'))?.length, 1);
  count = 11;
  t.is(
    (await t.throwsAsync(client.referrers(name, DIGEST), { instanceOf: RegistryError }))?.code,
    'CG_ERR_REGISTRY_LIMIT',
  );
});

test('referrers: pages are followed on the same origin, bounded; a next page elsewhere is refused', async (t) => {
  let nextHost = '';
  const registry = await fake(t, (req, res) => {
    const second = req.url?.includes('page=2') ?? false;
    const headers: Record<string, string> = { 'content-type': 'application/vnd.oci.image.index.v1+json' };
    if (!second) headers.link = `<${nextHost || ''}/v2/cg/app/referrers/${DIGEST}?page=2>; rel="next"`;
    res.writeHead(200, headers);
    res.end(
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: OCI_MANIFEST,
            digest: sha256Digest(Buffer.from(second ? 'b' : 'a')),
            size: 10,
            artifactType: second ? 'a/b' : 'c/d',
          },
        ],
      }),
    );
  });
  const client = createRegistryClient();
  t.teardown(() => client.close());
  const name = `${registry.host}/cg/app`;
  const found = await client.referrers(name, DIGEST, 'a/b');
  t.is(found?.length, 1, 'the wanted entry was on page 2');
  t.is(registry.seen.length, 2);
  nextHost = 'http://127.0.0.2:1';
  t.is(
    (await t.throwsAsync(client.referrers(name, DIGEST, 'a/b'), { instanceOf: RegistryError }))?.code,
    'CG_ERR_REGISTRY_PROTOCOL',
  );
});
