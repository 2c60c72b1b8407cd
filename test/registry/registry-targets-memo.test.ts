/** The registry targets remember a registry's hosts.toml endpoints for HOSTS_MEMO_MS, answers only. */
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTargets, HOSTS_MEMO_MS } from '../../src/registry/registry-targets.js';

function setup(t: { teardown: (fn: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'criguard-hosts-memo-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'registry.example'));
  const write = (text: string) => writeFileSync(join(dir, 'registry.example', 'hosts.toml'), text);
  let now = 5_000;
  const targets = createTargets({
    registryHostsDir: dir,
    timeoutMs: 10_000,
    plainHttpAllowed: () => false,
    declaredHttp: () => undefined,
    mirrorCredentials: undefined,
    now: () => now,
  });
  const hosts = () => targets.targets('registry.example/org/app', 'pull', undefined).map((x) => x.host);
  return { write, hosts, advance: (ms: number) => (now += ms) };
}

test('a hosts.toml change applies within HOSTS_MEMO_MS, not at every look-up', (t) => {
  const s = setup(t);
  s.write('[host."https://mirror-a.example"]\n');
  t.deepEqual(s.hosts(), ['mirror-a.example', 'registry.example']);
  s.write('[host."https://mirror-b.example"]\n');
  s.advance(HOSTS_MEMO_MS - 1);
  t.deepEqual(s.hosts(), ['mirror-a.example', 'registry.example'], 'remembered');
  s.advance(1);
  t.deepEqual(s.hosts(), ['mirror-b.example', 'registry.example'], 'read again once the memo is old');
});

test('an invalid hosts.toml is never remembered: refused at every look-up, and its fix applies at once', (t) => {
  const s = setup(t);
  s.write('[host."https://mirror-a.example"]\n');
  t.deepEqual(s.hosts(), ['mirror-a.example', 'registry.example']);
  s.write('this is not = = toml');
  s.advance(HOSTS_MEMO_MS);
  t.throws(() => s.hosts(), { code: 'CG_ERR_REGISTRY_UNAVAILABLE' });
  t.throws(() => s.hosts(), { code: 'CG_ERR_REGISTRY_UNAVAILABLE' }, 'still refused: nothing remembered');
  s.write('[host."https://mirror-c.example"]\n');
  t.deepEqual(s.hosts(), ['mirror-c.example', 'registry.example'], 'no wait after a refusal');
});

test('a clock that went backwards reads the file again', (t) => {
  const s = setup(t);
  s.write('[host."https://mirror-a.example"]\n');
  t.deepEqual(s.hosts(), ['mirror-a.example', 'registry.example']);
  s.write('[host."https://mirror-b.example"]\n');
  s.advance(-1);
  t.deepEqual(s.hosts(), ['mirror-b.example', 'registry.example']);
});
