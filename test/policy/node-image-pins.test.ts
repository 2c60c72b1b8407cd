import test from 'ava';
import { parse } from 'yaml';
import { formatNodeImagePins, nodeImagePins, staticPodImages } from '../../src/policy/node-image-pins.js';
import { loadPolicy } from '../../src/policy/load-policy.js';
import { planDecision } from '../../src/policy/evaluate.js';
import { digestOf } from '../verify/fixtures.js';

const KP = digestOf('kube-proxy');
const CALICO = digestOf('calico');
const ID = `sha256:${'a'.repeat(64)}`;

test('pins: own name only for named images, every digest for an image id, digest references as they are', (t) => {
  const result = nodeImagePins([
    {
      why: 'container kube-system/kube-proxy-1/kube-proxy',
      reference: 'registry.k8s.io/kube-proxy:v1.31.0',
      // The same content is also known under another name: not pinned for this container.
      repoDigests: [`registry.k8s.io/kube-proxy@${KP}`, `mirror.example/kube-proxy@${KP}`],
    },
    {
      why: 'container kube-system/calico-node-1/calico-node',
      reference: ID,
      repoDigests: [`docker.io/calico/node@${CALICO}`],
    },
    {
      why: 'static pod /m/etcd.yaml',
      reference: `registry.k8s.io/etcd:3.5@${digestOf('etcd')}`,
      repoDigests: [],
    },
    { why: 'static pod /m/x.yaml', reference: 'registry.example/x:1', repoDigests: [] },
    {
      why: 'container a/b/c',
      reference: 'registry.k8s.io/kube-proxy:v1.31.0',
      repoDigests: [
        `registry.k8s.io/kube-proxy@${KP}`,
        'bogus',
        `registry.k8s.io/kube-proxy@sha512:${'b'.repeat(128)}`,
      ],
    },
  ]);
  t.deepEqual(
    result.pins.map((p) => p.pin),
    [
      `docker.io/calico/node@${CALICO}`,
      `registry.k8s.io/etcd@${digestOf('etcd')}`,
      `registry.k8s.io/kube-proxy@${KP}`,
    ],
  );
  t.deepEqual(result.pins.find((p) => p.pin.includes('kube-proxy'))?.why, [
    'container a/b/c',
    'container kube-system/kube-proxy-1/kube-proxy',
  ]);
  t.true(result.pins.find((p) => p.pin.includes('kube-proxy'))?.systemImage);
  t.false(result.pins.find((p) => p.pin.includes('calico'))?.systemImage);
  t.deepEqual(result.unpinned, [{ why: 'static pod /m/x.yaml', reference: 'registry.example/x:1' }]);
});

test('the fragment says it must be reviewed, loads into a policy, and its pins admit exactly those digests', (t) => {
  const result = nodeImagePins([
    {
      why: 'container kube-system/p/c\nEVIL: injected',
      reference: ID,
      repoDigests: [`docker.io/calico/node@${CALICO}`],
    },
    { why: 'static pod /m/x.yaml', reference: 'registry.example/x:1', repoDigests: [] },
  ]);
  const text = formatNodeImagePins(result, { host: 'node-1', time: '2026-12-01T00:00:00Z' });
  t.regex(text, /REVIEW BY A HUMAN BEFORE USE/);
  t.regex(text, /# Not pinned.*\n# {3}static pod \/m\/x\.yaml: registry\.example\/x:1/);
  t.notRegex(text, /^EVIL/m);
  const fragment = parse(text) as { criguard: { nodeCriticalImages: string[] } };
  t.deepEqual(fragment, { criguard: { nodeCriticalImages: [`docker.io/calico/node@${CALICO}`] } });
  const policy = loadPolicy({
    policy: {
      source: 'p.json',
      text: JSON.stringify({
        defaultAdmissionRule: {
          evaluationMode: 'ALWAYS_DENY',
          enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
        },
        ...fragment,
      }),
    },
  });
  t.like(planDecision(policy, { name: 'docker.io/calico/node', digest: CALICO }, 'kube-system'), {
    verdict: { decision: 'allow', reason: 'NODE_CRITICAL' },
  });
  t.like(planDecision(policy, { name: 'docker.io/calico/node', digest: digestOf('other') }, 'kube-system'), {
    verdict: { decision: 'deny' },
  });
  // Nothing to pin: still a valid fragment.
  const empty = parse(formatNodeImagePins(nodeImagePins([]), { host: 'h', time: 't' })) as unknown;
  t.deepEqual(empty, { criguard: { nodeCriticalImages: [] } });
});

test('static pod manifests: containers, init and ephemeral containers of every Pod document', (t) => {
  const text = [
    'apiVersion: v1',
    'kind: Pod',
    'metadata: {name: etcd, namespace: kube-system}',
    'spec:',
    '  initContainers: [{name: init, image: "registry.k8s.io/busybox:1"}]',
    '  containers:',
    '    - {name: etcd, image: "registry.k8s.io/etcd:3.5.15-0"}',
    '    - {name: sidecar, image: "registry.k8s.io/etcd:3.5.15-0"}',
    '---',
    'apiVersion: v1',
    'kind: ConfigMap',
    'data: {image: "not/a-pod:1"}',
  ].join('\n');
  t.deepEqual(staticPodImages(text), ['registry.k8s.io/etcd:3.5.15-0', 'registry.k8s.io/busybox:1']);
  t.deepEqual(
    staticPodImages(JSON.stringify({ kind: 'Pod', spec: { containers: [{ name: 'a', image: 'x:1' }] } })),
    ['x:1'],
  );
  t.throws(() => staticPodImages('kind: Pod\nkind: Pod\n'));
  t.throws(() => staticPodImages('spec: [unclosed'));
});
