/** containerd's hosts.toml, read as containerd reads it, and the client's fallback across its endpoints. */
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registryEndpoints } from '../../src/registry/containerd-hosts.js';
import { createRegistryClient } from '../../src/registry/registry-client.js';
import { startFakeServer } from './fake-http-server.js';

function hostsDir(t: ExecutionContext, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'cg-hosts-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [host, text] of Object.entries(files)) {
    mkdirSync(join(dir, host), { recursive: true });
    writeFileSync(join(dir, host, 'hosts.toml'), text);
  }
  return dir;
}

test('hosts in file order, then the server; capabilities default to all; /v2 appended unless override_path', (t) => {
  const dir = hostsDir(t, {
    'registry.example': [
      'server = "https://registry.example"',
      '[host."https://mirror-a.example"]',
      '  capabilities = ["pull"]',
      '[host."http://mirror-b.example:5000/cache"]',
      '[host."https://mirror-c.example/custom/v2/api"]',
      '  override_path = true',
      '  capabilities = ["pull", "resolve"]',
    ].join('\n'),
  });
  const e = registryEndpoints(dir, 'registry.example');
  t.deepEqual(
    e.map((x) => [x.api, x.capabilities.pull, x.capabilities.resolve, x.capabilities.push, x.upstream]),
    [
      ['https://mirror-a.example/v2', true, false, false, false],
      ['http://mirror-b.example:5000/cache/v2', true, true, true, false],
      ['https://mirror-c.example/custom/v2/api', true, true, false, false],
      ['https://registry.example/v2', true, true, true, true],
    ],
  );
});

test('no server: the registry itself (docker.io → registry-1.docker.io); host_port_ and _default directories', (t) => {
  const dir = hostsDir(t, {
    'docker.io': '[host."https://hub-mirror.example"]\n',
    'reg.example_5000_': '[host."https://port-mirror.example"]\n',
    _default: '[host."https://default-mirror.example"]\n',
  });
  t.deepEqual(
    registryEndpoints(dir, 'docker.io').map((x) => x.api),
    ['https://hub-mirror.example/v2', 'https://registry-1.docker.io/v2'],
  );
  t.deepEqual(
    registryEndpoints(dir, 'reg.example:5000').map((x) => x.api),
    ['https://port-mirror.example/v2', 'https://reg.example:5000/v2'],
  );
  t.deepEqual(
    registryEndpoints(dir, 'other.example').map((x) => x.api),
    ['https://default-mirror.example/v2', 'https://other.example/v2'],
  );
  t.deepEqual(
    registryEndpoints(undefined, '127.0.0.1:5000').map((x) => x.api),
    ['http://127.0.0.1:5000/v2'],
  );
});

test('ca, client and skip_verify are read; an invalid file is an error (the caller denies)', (t) => {
  const dir = hostsDir(t, {
    'reg.example':
      '[host."https://m.example"]\n  ca = "ca.pem"\n  client = [["c.pem", "k.pem"]]\n  skip_verify = true\n',
    'bad.example': '[host."https://m.example"]\n  capabilities = ["fly"]\n',
    'broken.example': 'server = ',
  });
  for (const f of ['ca.pem', 'c.pem', 'k.pem']) writeFileSync(join(dir, 'reg.example', f), `PEM ${f}`);
  const [m] = registryEndpoints(dir, 'reg.example');
  t.deepEqual(m!.tls, { ca: ['PEM ca.pem'], cert: 'PEM c.pem', key: 'PEM k.pem', skipVerify: true });
  t.throws(() => registryEndpoints(dir, 'bad.example'), { message: /capabilities/ });
  t.throws(() => registryEndpoints(dir, 'broken.example'), { message: /not TOML/ });
});

const BLOB = Buffer.from('signature payload');
const BLOB_DIGEST = `sha256:${createHash('sha256').update(BLOB).digest('hex')}`;

test('fallback: a failing or lying mirror is skipped; credentials go only to the registry itself', async (t) => {
  // A mirror asking for credentials: it must not get the registry's.
  const broken = await startFakeServer((_req, res) => {
    res.statusCode = 401;
    res.setHeader('www-authenticate', 'Basic realm="mirror"');
    res.end();
  });
  const lying = await startFakeServer((_req, res) => {
    res.end('tampered content');
  });
  const upstream = await startFakeServer((req, res) => {
    if (req.headers.authorization === undefined) {
      res.statusCode = 401;
      res.setHeader('www-authenticate', 'Basic realm="upstream"');
      res.end();
    } else if (req.url === `/v2/team/app/blobs/${BLOB_DIGEST}`) res.end(BLOB);
    else {
      res.statusCode = 404;
      res.end();
    }
  });
  t.teardown(async () =>
    Promise.all([broken.close(), lying.close(), upstream.close()]).then(() => undefined),
  );
  const dir = hostsDir(t, {
    [upstream.host]: [
      `server = "http://${upstream.host}"`,
      `[host."http://${broken.host}"]`,
      `[host."http://${lying.host}"]`,
    ].join('\n'),
  });
  const client = createRegistryClient({ registryHostsDir: dir });
  t.teardown(() => client.close());
  const got = await client.getBlob(`${upstream.host}/team/app`, BLOB_DIGEST, {
    credentials: { username: 'u', password: 'secret' },
  });
  t.deepEqual(Buffer.from(got), BLOB);
  t.true(broken.seen.length >= 1);
  t.is(lying.seen.length, 1);
  t.true(
    broken.seen.every((r) => r.headers.authorization === undefined),
    'the mirror never sees the credentials, even when it asks',
  );
  t.is(lying.seen[0]!.headers.authorization, undefined);
  t.truthy(upstream.seen.at(-1)!.headers.authorization);
  // Nobody has it: the error names every endpoint and why.
  const err = await t.throwsAsync(
    client.getBlob(`${upstream.host}/team/app`, `sha256:${'0'.repeat(64)}`, {
      credentials: { username: 'u', password: 'secret' },
    }),
  );
  t.regex(
    err!.message,
    new RegExp(
      `tried ${broken.host} \\(denied\\), ${lying.host} \\(digest mismatch\\), ${upstream.host} \\(not found\\)`,
    ),
  );
});

test('a tag is resolved only through endpoints with the resolve capability', async (t) => {
  const pullOnly = await startFakeServer((_req, res) => {
    res.statusCode = 500;
    res.end();
  });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {},
      layers: [],
    }),
  );
  const upstream = await startFakeServer((_req, res) => {
    res.setHeader('content-type', 'application/vnd.oci.image.manifest.v1+json');
    res.end(manifest);
  });
  t.teardown(async () => Promise.all([pullOnly.close(), upstream.close()]).then(() => undefined));
  const dir = hostsDir(t, {
    [upstream.host]: `server = "http://${upstream.host}"\n[host."http://${pullOnly.host}"]\n  capabilities = ["pull"]\n`,
  });
  const client = createRegistryClient({ registryHostsDir: dir });
  t.teardown(() => client.close());
  const resolved = await client.resolve(`${upstream.host}/team/app:v1`, { verifyContent: true });
  t.is(resolved.digest, `sha256:${createHash('sha256').update(manifest).digest('hex')}`);
  t.is(pullOnly.seen.length, 0, 'a pull-only mirror is not asked for a tag');
});

test('header entries are read as containerd reads them; reserved names and control characters are refused', (t) => {
  const dir = hostsDir(t, {
    'reg.example': [
      'server = "https://reg.example"',
      '[header]',
      '  x-server = "s"',
      '[host."https://m.example"]',
      '  [host."https://m.example".header]',
      '    X-Custom = "one"',
      '    x-multi = ["a", "b"]',
    ].join('\n'),
    'host.example': '[host."https://m.example".header]\n  Host = "evil.example"\n',
    'crlf.example': '[host."https://m.example".header]\n  x-a = "v\\r\\nx-injected: 1"\n',
    'type.example': '[host."https://m.example".header]\n  x-a = 1\n',
    'proto.example': '[host."https://m.example".header]\n  __proto__ = "x"\n',
  });
  const [m, server] = registryEndpoints(dir, 'reg.example');
  t.deepEqual({ ...m!.headers }, { 'x-custom': 'one', 'x-multi': 'a, b' });
  t.deepEqual({ ...server!.headers }, { 'x-server': 's' });
  t.throws(() => registryEndpoints(dir, 'host.example'), { message: /header "Host" may not be set/ });
  t.throws(() => registryEndpoints(dir, 'crlf.example'), { message: /printable ASCII/ });
  t.throws(() => registryEndpoints(dir, 'type.example'), { message: /printable ASCII/ });
  const proto = registryEndpoints(dir, 'proto.example')[0]!.headers!;
  t.is(Object.getPrototypeOf(proto), null, 'a header named __proto__ is only a header');
  t.is(proto.__proto__, 'x');
});

test('a hosts.toml header goes to its own host only: not to the next endpoint, not after a redirect elsewhere', async (t) => {
  const elsewhere = await startFakeServer((_req, res) => {
    res.end(BLOB);
  });
  const mirror = await startFakeServer((req, res) => {
    if (req.url?.includes('/redirect/')) {
      res.statusCode = 307;
      res.setHeader('location', `http://${elsewhere.host}/blob`);
      res.end();
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  const upstream = await startFakeServer((_req, res) => {
    res.end(BLOB);
  });
  t.teardown(async () =>
    Promise.all([elsewhere.close(), mirror.close(), upstream.close()]).then(() => undefined),
  );
  const dir = hostsDir(t, {
    [upstream.host]: [
      `server = "http://${upstream.host}"`,
      `[host."http://${mirror.host}"]`,
      `  [host."http://${mirror.host}".header]`,
      '    x-mirror-token = "secret-token"',
    ].join('\n'),
  });
  const client = createRegistryClient({ registryHostsDir: dir });
  t.teardown(() => client.close());
  await client.getBlob(`${upstream.host}/team/app`, BLOB_DIGEST);
  t.is(mirror.seen[0]!.headers['x-mirror-token'], 'secret-token');
  t.is(upstream.seen[0]!.headers['x-mirror-token'], undefined, 'the next endpoint does not get it');
  await client.getBlob(`${upstream.host}/redirect/app`, BLOB_DIGEST);
  t.is(elsewhere.seen.length, 1);
  t.is(elsewhere.seen[0]!.headers['x-mirror-token'], undefined, 'a redirect elsewhere drops it');
});

test('a mirror gets the node credentials looked up for its own host, never the caller’s', async (t) => {
  const mirror = await startFakeServer((req, res) => {
    if (req.headers.authorization !== `Basic ${Buffer.from('mirror-user:mirror-pw').toString('base64')}`) {
      res.statusCode = 401;
      res.setHeader('www-authenticate', 'Basic realm="mirror"');
      res.end();
    } else res.end(BLOB);
  });
  const upstream = await startFakeServer((_req, res) => {
    res.statusCode = 503;
    res.end();
  });
  t.teardown(async () => Promise.all([mirror.close(), upstream.close()]).then(() => undefined));
  const dir = hostsDir(t, {
    [upstream.host]: `server = "http://${upstream.host}"\n[host."http://${mirror.host}"]\n`,
  });
  const asked: string[] = [];
  const client = createRegistryClient({
    registryHostsDir: dir,
    mirrorCredentials: async (image) => {
      asked.push(image);
      return image.startsWith(`${mirror.host}/`)
        ? { username: 'mirror-user', password: 'mirror-pw' }
        : undefined;
    },
  });
  t.teardown(() => client.close());
  const got = await client.getBlob(`${upstream.host}/team/app`, BLOB_DIGEST, {
    credentials: { username: 'kubelet-user', password: 'kubelet-pw' },
  });
  t.deepEqual(Buffer.from(got), BLOB);
  t.deepEqual(asked, [`${mirror.host}/team/app`], 'looked up for the mirror host and repository');
  const callers = `Basic ${Buffer.from('kubelet-user:kubelet-pw').toString('base64')}`;
  t.false(
    mirror.seen.some((r) => r.headers.authorization === callers),
    'the caller’s credentials never reach the mirror',
  );
  // Without mirror credentials, the mirror is asked anonymously and refuses: the error names it.
  const anonymous = createRegistryClient({ registryHostsDir: dir });
  t.teardown(() => anonymous.close());
  const err = await t.throwsAsync(anonymous.getBlob(`${upstream.host}/team/app`, BLOB_DIGEST));
  t.regex(err!.message, new RegExp(`${mirror.host} \\(denied\\)`));
});
