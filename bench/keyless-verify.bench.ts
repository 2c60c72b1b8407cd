/**
 * Cost of one keyless signature check with a warm trusted root (parsed once, as the daemon holds it):
 * certificate chain, SCT, Rekor SET and checkpoint, signature, identity and in-toto subject, through
 * verifyAttestors with a fresh decision session each time (no memo). Baseline in the same run: one key-based
 * ECDSA P-256 check through the same path. Also the real public-good bundle shipped as test data against
 * the shipped root. Target: under 2 ms per keyless signature. Run: npx tsx bench/keyless-verify.bench.ts
 */
import { readFileSync } from 'node:fs';
import { generateKeyPairSync, sign } from 'node:crypto';
import { bundleFromJSON } from '@sigstore/bundle';
import { encodeDssePae } from '../src/verify/dsse.js';
import { compileIdentity } from '../src/verify/keyless/identity.js';
import { publicGoodTrust } from '../src/verify/keyless/public-good.js';
import { parseTrustedRoot } from '../src/verify/keyless/trusted-root.js';
import { DEFAULT_KEYLESS_THRESHOLDS, verifyKeylessBundle } from '../src/verify/keyless/verify-bundle.js';
import { parseTrustedKey } from '../src/verify/public-key.js';
import { createSimpleSigningPayload } from '../src/verify/simple-signing.js';
import { verifyAttestors } from '../src/verify/verify-attestations.js';
import type { TrustedAttestor } from '../src/verify/verify-attestations.js';
import type { AttestationRecord } from '../src/verify/attestation.js';
import { createSigstoreDeployment, GITHUB_ISSUER } from '../test/helpers/sigstore-deployment.js';

const NAME = 'registry.example/acme/app';
const DIGEST = `sha256:${'cd'.repeat(32)}`;
const SUBJECT = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
const image = { name: NAME, digest: DIGEST };

const dep = await createSigstoreDeployment();
const trust = parseTrustedRoot(dep.trustedRoot, 'bench');
const bundle = bundleFromJSON(await dep.signDsse(DIGEST, { subject: SUBJECT, issuer: GITHUB_ISSUER }));
if (bundle.content.$case !== 'dsseEnvelope') throw new Error('expected DSSE');
const env = bundle.content.dsseEnvelope;
const keylessRecord: AttestationRecord = {
  payload: encodeDssePae(env.payloadType, env.payload),
  signatures: [],
  sigstoreBundle: bundle,
};
const keyless: TrustedAttestor = {
  name: 'ci',
  keys: [],
  threshold: 1,
  keyless: {
    trust,
    identities: [compileIdentity({ issuer: GITHUB_ISSUER, subject: SUBJECT })],
    thresholds: DEFAULT_KEYLESS_THRESHOLDS,
  },
};

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const payload = createSimpleSigningPayload(NAME, DIGEST);
const keyRecord: AttestationRecord = {
  payload,
  signatures: [{ signature: new Uint8Array(sign('sha256', payload, ec.privateKey)) }],
};
const keyed: TrustedAttestor = {
  name: 'key',
  keys: [
    parseTrustedKey(
      'k',
      ec.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      'ECDSA_P256_SHA256',
    ),
  ],
  threshold: 1,
};

async function perDecision(label: string, attestor: TrustedAttestor, record: AttestationRecord, n: number) {
  for (let i = 0; i < 20; i++)
    await verifyAttestors([attestor], image, [record], { bindDockerReference: false });
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const [o] = await verifyAttestors([attestor], image, [record], { bindDockerReference: false });
    if (!o?.satisfied) throw new Error(`${label}: not satisfied`);
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6 / n;
  console.log(`keyless-verify ${label}: ${ms.toFixed(3)} ms/decision (${n} decisions)`);
  return ms;
}

const base = await perDecision('baseline key-based ECDSA P-256', keyed, keyRecord, 500);
const kl = await perDecision(
  'keyless DSSE bundle, warm root (chain+SCT+SET+checkpoint+sig)',
  keyless,
  keylessRecord,
  300,
);

// The real public-good bundle against the shipped root (sync check alone, no event-loop yield).
const real = bundleFromJSON(
  JSON.parse(readFileSync('test/fixtures/sigstore/public-good-hello-world.sigstore.json', 'utf8')),
);
const artifact = readFileSync('test/fixtures/sigstore/hello-world.txt');
const pg = publicGoodTrust();
for (let i = 0; i < 20; i++) verifyKeylessBundle(real, artifact, pg);
const n = 300;
const start = process.hrtime.bigint();
for (let i = 0; i < n; i++) if (!verifyKeylessBundle(real, artifact, pg).ok) throw new Error('real bundle');
const realMs = Number(process.hrtime.bigint() - start) / 1e6 / n;
console.log(`keyless-verify real public-good bundle, shipped root: ${realMs.toFixed(3)} ms/signature`);
console.log(
  `keyless-verify: keyless ${kl.toFixed(3)} ms vs key ${base.toFixed(3)} ms per decision; target < 2 ms: ${kl < 2 && realMs < 2 ? 'met' : 'MISSED'}`,
);
