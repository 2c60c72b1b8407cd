/**
 * Event-loop delay during a hostile decision (issue: 64 well-formed but invalid Ed25519 signatures
 * against two attestors sharing the key). "before" is the former path, measured in the same run:
 * tweetnacl, synchronously, once per signature per key per attestor. "after" is verifyAttestors: node:crypto
 * in libuv's threadpool, each signature once per key material, bounded per decision.
 * Run: npx tsx bench/verification-stall.bench.ts. Prints the worst event-loop delay (what any concurrent
 * CRI call would have waited; compare with the idle baseline of the same run) and the decision's wall time.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import nacl from 'tweetnacl';
import { parseTrustedKey } from '../src/verify/public-key.js';
import type { AttestationRecord } from '../src/verify/attestation.js';
import { verifyAttestors } from '../src/verify/verify-attestations.js';
import type { TrustedAttestor } from '../src/verify/verify-attestations.js';

const NAME = 'gcr.io/org/app';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const image = { name: NAME, digest: DIGEST };
const ed = generateKeyPairSync('ed25519');
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = (k: typeof ed.publicKey): string => k.export({ type: 'spki', format: 'pem' }).toString();
const attestors: TrustedAttestor[] = [
  { name: 'a', keys: [parseTrustedKey('ed', pem(ed.publicKey), 'ED25519')], threshold: 1 },
  {
    name: 'b',
    keys: [
      parseTrustedKey('ed-too', pem(ed.publicKey), 'ED25519'),
      parseTrustedKey('ec', pem(ec.publicKey), 'ECDSA_P256_SHA256'),
    ],
    threshold: 1,
  },
];
const payload = Buffer.from(
  JSON.stringify({
    critical: {
      identity: { 'docker-reference': NAME },
      image: { 'docker-manifest-digest': DIGEST },
      type: 'cosign container image signature',
    },
  }),
);
const records: AttestationRecord[] = Array.from({ length: 64 }, (_, i) => ({
  payload,
  signatures: [{ signature: new Uint8Array(sign(null, Buffer.from(`other ${i}`), ed.privateKey)) }],
}));

/** The former path: every signature against every Ed25519 key of every attestor, tweetnacl, synchronous. */
function before(): void {
  for (const record of records) {
    for (const sig of record.signatures) {
      for (const attestor of attestors) {
        for (const key of attestor.keys) {
          if (key.ed25519 !== undefined)
            nacl.sign.detached.verify(record.payload, sig.signature, key.ed25519);
        }
      }
    }
  }
}

async function measure(label: string, decide: () => Promise<unknown>): Promise<void> {
  // A concurrent "CRI call" every millisecond: how late does it run?
  let worstLateMs = 0;
  let expected = performance.now() + 1;
  const timer = setInterval(() => {
    const now = performance.now();
    worstLateMs = Math.max(worstLateMs, now - expected);
    expected = now + 1;
  }, 1);
  await new Promise((r) => setTimeout(r, 20));
  const started = performance.now();
  await decide();
  const wallMs = performance.now() - started;
  await new Promise((r) => setTimeout(r, 20));
  clearInterval(timer);
  console.log(
    `verification-stall ${label}: decision ${wallMs.toFixed(1)} ms wall, ` +
      `a concurrent 1 ms timer (a CRI call's stand-in) ran up to ${worstLateMs.toFixed(1)} ms late`,
  );
}

await measure('idle baseline (50 ms sleep)', () => new Promise((r) => setTimeout(r, 50)));
await measure('before (tweetnacl, sync, per key per attestor)', async () => before());
await measure('after (node:crypto threadpool, once per key material, bounded)', () =>
  verifyAttestors(attestors, image, records, { bindDockerReference: false }),
);
