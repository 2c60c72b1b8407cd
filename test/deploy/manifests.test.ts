import test from 'ava';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import { ConfigMap, Namespace } from 'kubernetes-models/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';

type Obj = { apiVersion?: string; kind?: string; metadata?: { name?: string } } & Record<string, unknown>;

/** Validators by apiVersion/kind: the Kubernetes OpenAPI schemas compiled into kubernetes-models (offline). */
const validators: Record<string, (o: Obj) => void> = {
  'v1/Namespace': (o) => new Namespace(o as never).validate(),
  'v1/ConfigMap': (o) => new ConfigMap(o as never).validate(),
  'apps/v1/DaemonSet': (o) => new DaemonSet(o as never).validate(),
};

async function yamlFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    // deploy/examples holds criguard policies (checked by the policy tests) and deploy/monitoring Prometheus
    // rules (checked by monitoring.test.ts), not Kubernetes objects.
    if (['examples', 'monitoring'].includes(relative(dir, e.parentPath).split('/')[0] ?? '')) continue;
    if (e.isFile() && /\.ya?ml$/.test(e.name)) out.push(join(e.parentPath, e.name));
  }
  return out.sort();
}

async function load(): Promise<{ file: string; obj: Obj }[]> {
  const docs: { file: string; obj: Obj }[] = [];
  for (const file of await yamlFiles('deploy')) {
    for (const doc of parseAllDocuments(await readFile(file, 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
      docs.push({ file: relative('.', file), obj: doc.toJS() as Obj });
    }
  }
  return docs;
}

test('every object under deploy/ is valid against the Kubernetes schema of its kind', async (t) => {
  const docs = await load();
  t.true(docs.length >= 6);
  for (const { file, obj } of docs) {
    const key = `${obj.apiVersion}/${obj.kind}`;
    if (key.startsWith('kustomize.config.k8s.io/') || key.startsWith('kubelet.config.k8s.io/')) continue;
    const validate = validators[key];
    if (!validate) {
      t.fail(`${file}: no validator for ${key}`);
      continue;
    }
    t.notThrows(() => validate(obj), `${file} ${key}`);
  }
  // The validator is not a rubber stamp.
  t.throws(() =>
    validators['apps/v1/DaemonSet']?.({
      ...docs.find((d) => d.obj.kind === 'DaemonSet')!.obj,
      spec: { template: 1 },
    }),
  );
});

test('kustomizations list files that exist; no RBAC or ServiceAccount objects anywhere', async (t) => {
  const docs = await load();
  for (const { file, obj } of docs.filter((d) => d.obj.kind === 'Kustomization')) {
    const dir = file.slice(0, file.lastIndexOf('/'));
    for (const res of (obj.resources as string[]) ?? []) {
      t.true(
        docs.some((d) => d.file === join(dir, res)),
        `${file}: ${res}`,
      );
    }
  }
  const kinds = new Set(docs.map((d) => d.obj.kind));
  for (const kind of [
    'Role',
    'ClusterRole',
    'RoleBinding',
    'ClusterRoleBinding',
    'ServiceAccount',
    'Secret',
  ]) {
    t.false(kinds.has(kind), kind);
  }
});

test('the installer DaemonSet has the node-agent properties the design relies on', async (t) => {
  const docs = await load();
  const ds = docs.find((d) => d.file === 'deploy/base/daemonset.yaml')?.obj as unknown as IDaemonSet;
  const pod = ds.spec!.template.spec!;
  t.is(pod.automountServiceAccountToken, false);
  t.is(pod.serviceAccountName, undefined);
  t.true(pod.hostPID);
  t.true(pod.hostNetwork);
  t.is(pod.priorityClassName, 'system-node-critical');
  t.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
  const init = pod.initContainers?.[0];
  t.deepEqual(init?.command?.slice(0, 3), ['/usr/local/bin/criguard', 'install', '--host-root=/host']);
  t.true(init?.command?.includes('--config-source=/etc/criguard-source'));
  const main = pod.containers[0]!;
  t.true(main.command?.some((a) => a.startsWith('--sync-interval=')));
  t.deepEqual(main.readinessProbe?.exec?.command?.slice(0, 2), ['/usr/local/bin/criguard', 'probe']);
  for (const c of [init!, main]) t.true(c.securityContext?.privileged, c.name);
  t.true(!JSON.stringify(pod).includes('preStop'), 'no uninstall on pod termination');
  t.true(pod.volumes?.some((v) => v.hostPath?.path === '/' && v.name === 'host-root'));
  t.true(pod.volumes?.some((v) => v.configMap?.name === 'criguard-config'));
});

test('the ConfigMap carries a parseable config and a permissive starter policy', async (t) => {
  const docs = await load();
  const cm = docs.find((d) => d.obj.kind === 'ConfigMap')?.obj as { data: Record<string, string> };
  t.deepEqual(Object.keys(cm.data).sort(), ['config.yaml', 'policy.yaml']);
  const config = parse(cm.data['config.yaml']!) as Record<string, unknown>;
  t.is(config.listen, '/run/criguard/criguard.sock');
  t.is(config.metricsAddress, '127.0.0.1:9798');
  t.is(config.socketMode, '0660', 'quoted: an unquoted 0660 is the number 660 in YAML 1.2');
  const policy = parse(cm.data['policy.yaml']!) as { defaultAdmissionRule: Record<string, string> };
  t.deepEqual(policy.defaultAdmissionRule, {
    evaluationMode: 'ALWAYS_ALLOW',
    enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
  });
});
