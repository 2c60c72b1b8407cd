/**
 * The node's registry credentials: kubelet credential provider plugins (exec protocol
 * credentialprovider.kubelet.k8s.io/v1, run for real as scripts) and Docker config.json, in the kubelet's order.
 */
import test, { type ExecutionContext } from 'ava';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createCredentialProviders,
  loadCredentialProviderConfig,
  parseGoDuration,
} from '../../src/registry/credential-provider.js';
import { imageMatches } from '../../src/registry/image-match.js';
import { createNodeCredentials } from '../../src/registry/node-credentials.js';

const signal = () => new AbortController().signal;

function dir(t: ExecutionContext): string {
  const d = mkdtempSync(join(tmpdir(), 'cg-creds-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A plugin that logs each request to $LOG and answers with $USERNAME/$PASSWORD for $AUTH_KEY. */
function writePlugin(binDir: string, name: string): void {
  const file = join(binDir, name);
  writeFileSync(
    file,
    [
      '#!/bin/sh',
      'request=$(cat)',
      'echo "$request $*" >> "$LOG"',
      'if [ -n "$FAIL" ]; then echo "secret-in-stderr" >&2; exit 3; fi',
      'printf \'{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse","cacheKeyType":"%s",%s"auth":{"%s":{"username":"%s","password":"%s"}}}\' "$KEY_TYPE" "$DURATION" "$AUTH_KEY" "$USERNAME" "$PASSWORD"',
      '',
    ].join('\n'),
  );
  chmodSync(file, 0o755);
}

function writeConfig(d: string, env: Record<string, string>, extra = ''): string {
  const file = join(d, 'provider-config.yaml');
  writeFileSync(
    file,
    [
      'apiVersion: kubelet.config.k8s.io/v1',
      'kind: CredentialProviderConfig',
      'providers:',
      '  - name: test-plugin',
      '    matchImages: ["*.example.com", "127.0.0.1:5000/team"]',
      '    defaultCacheDuration: "10m"',
      '    apiVersion: credentialprovider.kubelet.k8s.io/v1',
      '    args: ["--flag"]',
      '    env:',
      ...Object.entries(env).flatMap(([name, value]) => [
        `      - name: ${name}`,
        `        value: '${value}'`,
      ]),
      extra,
    ].join('\n'),
  );
  return file;
}

test('matchImages: one glob per host part, ports exact, path prefix', (t) => {
  t.true(imageMatches('*.example.com', 'reg.example.com/a/b'));
  t.false(imageMatches('*.example.com', 'a.reg.example.com/a'));
  t.false(imageMatches('*.example.com', 'reg.example.com:5000/a'));
  t.true(imageMatches('127.0.0.1:5000/team', '127.0.0.1:5000/team/app'));
  t.false(imageMatches('127.0.0.1:5000/team', '127.0.0.1:5000/other/app'));
  t.true(imageMatches('https://reg.example.com', 'reg.example.com/x'));
  t.false(imageMatches('reg.example.com', 'reg.example.org/x'));
});

test('Go durations parse as the kubelet reads them', (t) => {
  t.is(parseGoDuration('12h'), 12 * 3_600_000);
  t.is(parseGoDuration('1h30m'), 5_400_000);
  t.is(parseGoDuration('5m0s'), 300_000);
  t.is(parseGoDuration('0'), 0);
  t.is(parseGoDuration('soon'), undefined);
});

test('a plugin is run with the request on stdin, its args and env; its answer is cached for its duration', async (t) => {
  const d = dir(t);
  const log = join(d, 'log');
  writePlugin(d, 'test-plugin');
  const env = {
    LOG: log,
    KEY_TYPE: 'Registry',
    DURATION: '"cacheDuration":"1m",',
    AUTH_KEY: 'reg.example.com',
    USERNAME: 'u1',
    PASSWORD: 'p1',
  };
  let now = 1_000_000;
  const providers = createCredentialProviders({
    providers: loadCredentialProviderConfig(writeConfig(d, env)),
    binDir: d,
    clock: () => now,
  });
  t.deepEqual(await providers.lookup('reg.example.com/team/app', signal()), {
    username: 'u1',
    password: 'p1',
  });
  const first = readFileSync(log, 'utf8');
  t.regex(first, /"kind":"CredentialProviderRequest","image":"reg.example.com\/team\/app"} --flag/);
  // Registry key type: another repository of the same registry is served from the cache.
  t.truthy(await providers.lookup('reg.example.com/other/app', signal()));
  t.is(readFileSync(log, 'utf8').trim().split('\n').length, 1);
  // After the response's cacheDuration (1m, not the default 10m), the plugin runs again.
  now += 61_000;
  t.truthy(await providers.lookup('reg.example.com/team/app', signal()));
  t.is(readFileSync(log, 'utf8').trim().split('\n').length, 2);
  // Not matched by matchImages: the plugin is not run.
  t.is(await providers.lookup('docker.io/library/busybox', signal()), undefined);
  t.is(readFileSync(log, 'utf8').trim().split('\n').length, 2);
});

test('an Image-keyed answer is not reused for another image; the default duration applies without one', async (t) => {
  const d = dir(t);
  const log = join(d, 'log');
  writePlugin(d, 'test-plugin');
  const env = {
    LOG: log,
    KEY_TYPE: 'Image',
    DURATION: '',
    AUTH_KEY: 'reg.example.com',
    USERNAME: 'u',
    PASSWORD: 'p',
  };
  let now = 0;
  const providers = createCredentialProviders({
    providers: loadCredentialProviderConfig(writeConfig(d, env)),
    binDir: d,
    clock: () => now,
  });
  await providers.lookup('reg.example.com/a', signal());
  await providers.lookup('reg.example.com/a', signal());
  await providers.lookup('reg.example.com/b', signal());
  t.is(readFileSync(log, 'utf8').trim().split('\n').length, 2);
  now += 9 * 60_000;
  await providers.lookup('reg.example.com/a', signal());
  t.is(readFileSync(log, 'utf8').trim().split('\n').length, 2, 'within defaultCacheDuration 10m');
  now += 2 * 60_000;
  await providers.lookup('reg.example.com/a', signal());
  t.is(readFileSync(log, 'utf8').trim().split('\n').length, 3);
});

test('order: plugin first, then config.json (first file found); a failing plugin falls through; nothing leaks', async (t) => {
  const d = dir(t);
  const log = join(d, 'log');
  writePlugin(d, 'test-plugin');
  const dockerConfig = join(d, 'config.json');
  writeFileSync(
    dockerConfig,
    JSON.stringify({
      auths: {
        'reg.example.com': { auth: Buffer.from('cfg-user:cfg-pass').toString('base64') },
        'https://index.docker.io/v1/': { username: 'hub', password: 'hubpw' },
      },
    }),
  );
  const ignored = join(d, 'later.json');
  writeFileSync(
    ignored,
    JSON.stringify({ auths: { 'other.example.org': { username: 'x', password: 'y' } } }),
  );
  const errors: string[] = [];
  const make = (env: Record<string, string>) =>
    createNodeCredentials({
      providers: createCredentialProviders({
        providers: loadCredentialProviderConfig(writeConfig(d, env)),
        binDir: d,
        clock: Date.now,
        onError: (p, reason) => errors.push(`${p}: ${reason}`),
      }),
      dockerConfigFiles: [join(d, 'missing.json'), dockerConfig, ignored],
      clock: Date.now,
    });
  const base = {
    LOG: log,
    KEY_TYPE: 'Image',
    DURATION: '',
    AUTH_KEY: 'reg.example.com',
    USERNAME: 'plug',
    PASSWORD: 'plugpw',
  };
  t.deepEqual(await make(base).lookup('reg.example.com/app', signal()), {
    username: 'plug',
    password: 'plugpw',
  });
  const failing = make({ ...base, FAIL: '1' });
  const fromConfig = await failing.lookup('reg.example.com/app', signal());
  t.is(fromConfig?.auth, Buffer.from('cfg-user:cfg-pass').toString('base64'));
  t.deepEqual(errors, ['test-plugin: exit 3']);
  t.false(errors.join().includes('secret'), 'plugin output never reaches reports');
  t.like(await failing.lookup('docker.io/library/busybox', signal()), { username: 'hub' });
  t.is(
    await failing.lookup('other.example.org/app', signal()),
    undefined,
    'only the first config.json found',
  );
});

test('an invalid provider config is refused with the file and field, never run', (t) => {
  const d = dir(t);
  const file = join(d, 'bad.yaml');
  writeFileSync(
    file,
    'apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name: ../evil\n    matchImages: ["*"]\n    defaultCacheDuration: 1h\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n',
  );
  t.throws(() => loadCredentialProviderConfig(file), { message: /bad.yaml: providers.0.name/ });
});
