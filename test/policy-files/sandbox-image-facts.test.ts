import test from 'ava';
import { sandboxImageOf } from '../../src/cri/containerd-client.js';
import { loadPolicy } from '../../src/policy/load-policy.js';
import { createSandboxImageFacts } from '../../src/policy-files/sandbox-image-facts.js';
import type { SandboxImageFacts } from '../../src/policy/types.js';
import { digestOf } from '../verify/fixtures.js';

const policyText = (mode: string) =>
  JSON.stringify({
    globalPolicyEvaluationMode: mode,
    defaultAdmissionRule: { evaluationMode: 'ALWAYS_DENY', enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG' },
  });
const PAUSE = 'registry.k8s.io/pause';

test('sandboxImageOf: containerd 1.x config.sandboxImage, 2.x pinnedImages.sandbox, nothing otherwise', (t) => {
  t.is(sandboxImageOf({ config: JSON.stringify({ sandboxImage: `${PAUSE}:3.9` }) }), `${PAUSE}:3.9`);
  t.is(
    sandboxImageOf({ config: JSON.stringify({ pinnedImages: { sandbox: `${PAUSE}:3.10` } }) }),
    `${PAUSE}:3.10`,
  );
  t.is(
    sandboxImageOf({ imageConfig: JSON.stringify({ pinnedImages: { sandbox: `${PAUSE}:3.10` } }) }),
    `${PAUSE}:3.10`,
  );
  const infos: Record<string, string>[] = [
    {},
    { config: 'not json' },
    { config: JSON.stringify({ sandboxImage: 42 }) },
    { config: JSON.stringify({ sandboxImage: '' }) },
    { config: JSON.stringify({ sandboxImage: 'x'.repeat(5000) }) },
  ];
  for (const info of infos) {
    t.is(sandboxImageOf(info), undefined, JSON.stringify(info).slice(0, 60));
  }
});

test('facts are asked only for an ENABLE policy, applied once per change, and kept when containerd fails', async (t) => {
  let mode = 'ENABLE';
  let base = loadPolicy({ policy: { source: 'p', text: policyText(mode) } });
  let answer: SandboxImageFacts | Error | undefined = {
    reference: `${PAUSE}:3.10`,
    repoDigests: [`${PAUSE}@${digestOf('a')}`],
  };
  let asked = 0;
  const changes: (SandboxImageFacts | undefined)[] = [];
  const errors: string[] = [];
  const facts = createSandboxImageFacts({
    source: {
      sandboxImage: async () => {
        asked++;
        if (answer instanceof Error) throw answer;
        return answer;
      },
    },
    policy: () => base,
    intervalMs: 3_600_000,
    onChange: (f) => changes.push(f),
    onError: (err) => errors.push(err.message),
  });
  t.teardown(() => facts.stop());
  t.is(facts.policy(), base, 'nothing known yet: the policy as loaded');
  await facts.refresh();
  const applied = facts.policy();
  t.not(applied.revision, base.revision);
  t.is(applied.system?.pinned(PAUSE, digestOf('a')), `${PAUSE}@${digestOf('a')}`);
  t.is(facts.policy(), applied, 'memoised');
  await facts.refresh();
  t.is(changes.length, 1, 'same facts: no change reported');
  answer = new Error('containerd down');
  await facts.refresh();
  t.deepEqual(errors, ['containerd down']);
  t.is(facts.policy(), applied, 'the last facts stay');
  // A reload that turns the system policy off: containerd is no longer asked, the facts do nothing.
  mode = 'DISABLE';
  base = loadPolicy({ policy: { source: 'p', text: policyText(mode) } });
  const before = asked;
  await facts.refresh();
  t.is(asked, before);
  t.is(facts.policy(), base);
});
