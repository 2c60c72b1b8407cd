import test from 'ava';
import {
  patchKubeletConfig,
  patchKubeletFlags,
  restoreKubeletConfig,
  restoreKubeletFlags,
  toEndpointUrl,
} from '../../src/install/kubelet-endpoints.js';
import type { InstallError } from '../../src/install/errors.js';

const EP = 'unix:///run/criguard/criguard.sock';

test('flags: both flag spellings are patched and restored; other flags untouched', (t) => {
  const cases = [
    '--container-runtime-endpoint=unix:///run/containerd/containerd.sock --v=2',
    "KUBELET_EXTRA_ARGS='--image-service-endpoint unix:///x.sock --container-runtime-endpoint=unix:///y.sock'",
    'ARGS="--node-ip=10.0.0.1 --container-runtime-endpoint=unix:///run/containerd/containerd.sock"',
  ];
  for (const text of cases) {
    const patch = patchKubeletFlags(text, EP);
    t.true(patch.changed, text);
    t.false(patch.text.includes('containerd.sock') || /x\.sock|y\.sock/.test(patch.text), patch.text);
    t.false(patchKubeletFlags(patch.text, EP).changed, 'patching twice changes nothing');
    t.is(restoreKubeletFlags(patch.text, EP, patch.originals).text, text);
  }
  t.false(patchKubeletFlags('--v=2 --container-runtime-endpoint-extra=1', EP).changed);
});

test('config: endpoints set, comments kept, absent keys deleted again on restore', (t) => {
  const text = '# kubeadm\nkind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///a.sock\n';
  const patch = patchKubeletConfig(text, EP);
  t.deepEqual(patch.originals, { containerRuntimeEndpoint: 'unix:///a.sock', imageServiceEndpoint: null });
  t.regex(patch.text, /^# kubeadm$/m);
  t.is(restoreKubeletConfig(patch.text, EP, patch.originals).text, text);
  // A value changed by someone else since is left alone and reported.
  const other = patch.text.replace(
    `containerRuntimeEndpoint: ${EP}`,
    'containerRuntimeEndpoint: unix:///b.sock',
  );
  t.deepEqual(restoreKubeletConfig(other, EP, patch.originals).skipped, ['containerRuntimeEndpoint']);
  t.true(patchKubeletConfig('', EP).changed, 'an empty file gets both keys');
});

test('config: not a mapping is CG_ERR_KUBELET_CONFIG_INVALID', (t) => {
  for (const text of ['- a\n- b\n', 'a: [\n']) {
    const err = t.throws(() => patchKubeletConfig(text, EP));
    t.is((err as InstallError).code, 'CG_ERR_KUBELET_CONFIG_INVALID');
  }
});

test('listen settings become unix:// endpoint URLs', (t) => {
  t.is(toEndpointUrl('/run/criguard/criguard.sock'), EP);
  t.is(toEndpointUrl(EP), EP);
});
