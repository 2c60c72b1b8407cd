/**
 * Registries behind TLS with a private CA (`registryCaFiles`): trusted with the CA, refused without it.
 * A small HTTPS server stands in for the registry (Debian's docker-registry would need the same
 * certificates; what is under test is criguard's TLS set-up, not the registry).
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RegistryError } from '../../src/registry/errors.js';
import { OCI_MANIFEST } from '../../src/registry/media-types.js';
import { createRegistryClient } from '../../src/registry/registry-client.js';

const dir = mkdtempSync(join(tmpdir(), 'cgtls-'));
const manifest = Buffer.from(
  JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: {}, layers: [] }),
);
const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
let server: Server;
let host: string;
let ca: string;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

test.before(async () => {
  openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=criguard test CA',
  ]);
  openssl([
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  ]);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'san.ext',
  ]);
  ca = readFileSync(join(dir, 'ca.pem'), 'utf8');
  server = createServer(
    { key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) },
    (req, res) => {
      if (req.url === '/v2/app/manifests/v1') {
        res.writeHead(200, {
          'content-type': OCI_MANIFEST,
          'docker-content-digest': digest,
          'content-length': manifest.length,
        });
        res.end(req.method === 'HEAD' ? undefined : manifest);
      } else {
        res.writeHead(404).end();
      }
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

test.after.always(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a registry with a certificate from a configured CA is trusted', async (t) => {
  const client = createRegistryClient({
    hosts: { [host]: { plainHttp: false } },
    caCertificates: [ca],
    timeoutMs: 10_000,
  });
  t.teardown(() => client.close());
  const got = await client.resolve(`${host}/app:v1`, { verifyContent: true });
  t.is(got.digest, digest);
});

test('tls_unknown_ca_fail: without the CA the registry is unreachable (fail closed)', async (t) => {
  const client = createRegistryClient({ hosts: { [host]: { plainHttp: false } }, timeoutMs: 10_000 });
  t.teardown(() => client.close());
  const err = await t.throwsAsync<RegistryError>(client.resolve(`${host}/app:v1`));
  t.is(err.code, 'CG_ERR_REGISTRY_UNAVAILABLE');
});
