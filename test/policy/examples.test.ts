import test from 'ava';
import { loadPolicyFiles } from '../../src/policy-files/load-policy-files.js';

test('deploy/examples/policy.yaml loads', async (t) => {
  const policy = await loadPolicyFiles({ policyPath: 'deploy/examples/policy.yaml' });
  t.is(policy.namespaceRules.size, 3);
});

test('deploy/examples/gke-export-policy.yaml loads unchanged with its attestor directory', async (t) => {
  const policy = await loadPolicyFiles({
    policyPath: 'deploy/examples/gke-export-policy.yaml',
    attestorsDir: 'deploy/examples/attestors',
    cluster: 'us-central1-a.prod-cluster',
  });
  t.is(policy.clusterRule?.attestors[0]?.name, 'projects/my-project/attestors/built-by-cloud-build');
});
