/** The daemon's decision path verifies OpenPGP attestations (asynchronous verification before the verdict). */
import test from 'ava';
import { createAdmission } from '../../src/admission/controller.js';
import type { DecisionRecord } from '../../src/admission/decision-record.js';
import { VerdictCache } from '../../src/cache/verdict-cache.js';
import { loadPolicy } from '../../src/policy/load-policy.js';
import type { AttestationRecord } from '../../src/verify/attestation.js';
import { createGpg, gcloudPayload } from '../helpers/gpg.js';

const NAME = 'registry.example/team/app';
const SIGNED = `sha256:${'c3'.repeat(32)}`;
const UNSIGNED = `sha256:${'d4'.repeat(32)}`;

test('PullImage admits a digest with a gpg-signed attestation and denies one without', async (t) => {
  const gpg = createGpg();
  t.teardown(() => gpg.dispose());
  const fpr = await gpg.generate('builder@example.com', 'ed25519', 'sign', '0');
  const policy = loadPolicy({
    policy: {
      source: 'policy.json',
      text: JSON.stringify({
        defaultAdmissionRule: {
          evaluationMode: 'REQUIRE_ATTESTATION',
          enforcementMode: 'ENFORCED_BLOCK_AND_AUDIT_LOG',
          requireAttestationsBy: ['builder'],
        },
        attestors: [
          {
            name: 'builder',
            userOwnedGrafeasNote: {
              publicKeys: [{ id: fpr, asciiArmoredPgpPublicKey: await gpg.exportPublic(fpr) }],
            },
          },
        ],
      }),
    },
  });
  const payload = gcloudPayload(NAME, SIGNED);
  const record: AttestationRecord = {
    payload,
    signatures: [{ publicKeyId: fpr, signature: await gpg.sign(fpr, payload) }],
  };
  const records: DecisionRecord[] = [];
  const admission = createAdmission({
    policy: () => policy,
    resolver: { resolve: async () => SIGNED },
    evidence: [{ fetch: async (image) => (image.digest === SIGNED ? [record] : []) }],
    images: { lookup: async () => undefined },
    cache: new VerdictCache({ maxEntries: 10, allowTtlMs: 60_000, denyTtlMs: 1000, now: Date.now }),
    sink: { record: (r) => records.push(r) },
    clock: Date.now,
    budgetMs: 5000,
  });
  const pod = { namespace: 'default', name: 'p', uid: 'u', labels: {}, annotations: {} };
  const signal = new AbortController().signal;
  t.true(
    (await admission.admitPull({ image: `${NAME}@${SIGNED}`, pod, credentials: undefined }, signal)).allowed,
  );
  t.false(
    (await admission.admitPull({ image: `${NAME}@${UNSIGNED}`, pod, credentials: undefined }, signal))
      .allowed,
  );
  t.deepEqual(
    records.map((r) => r.outcome),
    ['allow', 'deny'],
  );
});
