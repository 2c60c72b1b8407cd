import { createHash } from 'node:crypto';
import test from 'ava';
import { bundleFromJSON } from '@sigstore/bundle';
import type { Bundle } from '@sigstore/bundle';
import { encodeDssePae } from '../../src/verify/dsse.js';
import { compileIdentity } from '../../src/verify/keyless/identity.js';
import type { KeylessIdentitySpec } from '../../src/verify/keyless/identity.js';
import { parseTrustedRoot } from '../../src/verify/keyless/trusted-root.js';
import type { KeylessTrust } from '../../src/verify/keyless/trusted-root.js';
import { DEFAULT_KEYLESS_THRESHOLDS, verifyKeylessBundle } from '../../src/verify/keyless/verify-bundle.js';
import type { AttestationRecord } from '../../src/verify/attestation.js';
import { createSimpleSigningPayload } from '../../src/verify/simple-signing.js';
import { verifyAttestors } from '../../src/verify/verify-attestations.js';
import type { AttestorOutcome, TrustedAttestor } from '../../src/verify/verify-attestations.js';
import { createSigstoreDeployment, FULCIO_OIDS, GITHUB_ISSUER } from '../helpers/sigstore-deployment.js';
import type { SigstoreDeployment } from '../helpers/sigstore-deployment.js';
import { digestOf, makeKey, payloadFor, signWith, trust as trustKey } from './fixtures.js';

const NAME = 'registry.example/team/app';
const D = digestOf('image');
const image = { name: NAME, digest: D };
const WORKFLOW = 'https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main';
const signer = { subject: WORKFLOW, issuer: GITHUB_ISSUER };

let dep: SigstoreDeployment;
let trust: KeylessTrust;
test.before(async () => {
  dep = await createSigstoreDeployment();
  trust = parseTrustedRoot(dep.trustedRoot, 'test-root');
});

function keylessAttestor(spec: KeylessIdentitySpec | KeylessIdentitySpec[], root = trust): TrustedAttestor {
  const specs = Array.isArray(spec) ? spec : [spec];
  return {
    name: 'ci',
    keys: [],
    threshold: 1,
    keyless: { trust: root, identities: specs.map(compileIdentity), thresholds: DEFAULT_KEYLESS_THRESHOLDS },
  };
}
const exact: KeylessIdentitySpec = { issuer: GITHUB_ISSUER, subject: WORKFLOW };

/** A record as the bundle source makes it: the PAE (DSSE) or signed bytes, the signatures, the bundle. */
function dsseRecord(json: Record<string, unknown>): AttestationRecord {
  const bundle = bundleFromJSON(json);
  if (bundle.content.$case !== 'dsseEnvelope') throw new Error('not DSSE');
  const env = bundle.content.dsseEnvelope;
  return {
    payload: encodeDssePae(env.payloadType, env.payload),
    signatures: env.signatures.map((s) => ({ signature: new Uint8Array(s.sig) })),
    sigstoreBundle: bundle,
  };
}
function messageRecord(payload: Uint8Array, json: Record<string, unknown>): AttestationRecord {
  const bundle: Bundle = bundleFromJSON(json);
  if (bundle.content.$case !== 'messageSignature') throw new Error('not a message signature');
  return {
    payload,
    signatures: [{ signature: new Uint8Array(bundle.content.messageSignature.signature) }],
    sigstoreBundle: bundle,
  };
}
async function judge(attestor: TrustedAttestor, records: AttestationRecord[]): Promise<AttestorOutcome> {
  const [outcome] = await verifyAttestors([attestor], image, records, { bindDockerReference: false });
  return outcome!;
}
/** Bundle and trusted-root JSON, edited freely by the tests. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;
/** Mutates a copy of a bundle's JSON. */
function edit(json: Record<string, unknown>, change: (b: Loose) => void): Record<string, unknown> {
  const copy = structuredClone(json);
  change(copy);
  return copy;
}

test('keyless_allow: the right issuer and subject, DSSE bundle (cosign 3)', async (t) => {
  const outcome = await judge(keylessAttestor(exact), [dsseRecord(await dep.signDsse(D, signer))]);
  t.like(outcome, { satisfied: true, reason: 'VERIFIED' });
  t.deepEqual(outcome.keyIds, [`${GITHUB_ISSUER} ${WORKFLOW}`]);
});

test('keyless_allow: a message signature over the simple-signing payload (the .sig form)', async (t) => {
  const payload = createSimpleSigningPayload(NAME, D);
  const outcome = await judge(keylessAttestor(exact), [
    messageRecord(payload, await dep.signMessage(payload, signer)),
  ]);
  t.true(outcome.satisfied);
});

test('keyless_allow: a whole-match regexp and GitHub workflow extensions', async (t) => {
  const json = await dep.signDsse(D, {
    ...signer,
    extensions: { [FULCIO_OIDS.workflowRepository]: 'org/repo', [FULCIO_OIDS.workflowTrigger]: 'push' },
  });
  const spec: KeylessIdentitySpec = {
    issuer: GITHUB_ISSUER,
    subjectRegExp: 'https://github\\.com/org/repo/\\.github/workflows/.+@refs/heads/main',
    github: { workflowRepository: 'org/repo', workflowTrigger: 'push' },
  };
  t.true((await judge(keylessAttestor(spec), [dsseRecord(json)])).satisfied);
  const wrongTrigger = {
    ...spec,
    github: { workflowRepository: 'org/repo', workflowTrigger: 'pull_request' },
  };
  t.like(await judge(keylessAttestor(wrongTrigger), [dsseRecord(json)]), {
    satisfied: false,
    reason: 'IDENTITY_MISMATCH',
  });
});

const identityDenials: [string, KeylessIdentitySpec][] = [
  ['keyless_wrong_subject_fail', { issuer: GITHUB_ISSUER, subject: `${WORKFLOW}x` }],
  ['keyless_wrong_issuer_fail', { issuer: 'https://accounts.google.com', subject: WORKFLOW }],
  [
    'keyless_regexp_substring_only_fail',
    { issuer: GITHUB_ISSUER, subjectRegExp: 'https://github\\.com/org/repo' },
  ],
  ['keyless_issuer_regexp_substring_only_fail', { issuerRegExp: 'https://token', subject: WORKFLOW }],
];
for (const [name, spec] of identityDenials) {
  test(name, async (t) => {
    const outcome = await judge(keylessAttestor(spec), [dsseRecord(await dep.signDsse(D, signer))]);
    t.like(outcome, { satisfied: false, reason: 'IDENTITY_MISMATCH' });
  });
}

test('keyless_regexp_breakout_rejected: a pattern that only parses once wrapped is refused', (t) => {
  t.throws(() => compileIdentity({ issuer: GITHUB_ISSUER, subjectRegExp: 'x)|(.*' }), {
    message: /CG_ERR_IDENTITY_INVALID/,
  });
  t.throws(() => compileIdentity({ issuer: GITHUB_ISSUER }), { message: /exactly one of subject/ });
});

test('keyless_cert_expired_at_signing_time_fail: logged after the 10-minute certificate expired', async (t) => {
  // A trusted log whose clock is an hour ahead: its SET says the signature was made after the
  // certificate's 10 minutes of validity.
  const lateLog = await dep.newLog(new Date(Date.now() + 60 * 60 * 1000));
  const root = structuredClone(dep.trustedRoot) as Loose;
  const der = lateLog.key.publicKey.export({ type: 'spki', format: 'der' });
  root.tlogs.push({
    ...root.tlogs[0],
    publicKey: { ...root.tlogs[0].publicKey, rawBytes: der.toString('base64') },
    logId: { keyId: createHash('sha256').update(der).digest('base64') },
  });
  const withLateLog = parseTrustedRoot(root, 'late-log');
  const late = await dep.signDsse(D, { ...signer, log: lateLog });
  const outcome = await judge(keylessAttestor(exact, withLateLog), [dsseRecord(late)]);
  t.like(outcome, { satisfied: false, reason: 'CERTIFICATE_INVALID' });
  const check = verifyKeylessBundle(bundleFromJSON(late), undefined, withLateLog);
  t.log(check.ok ? 'ok' : check.detail);
  t.regex(check.ok ? '' : check.detail, /valid|expired/i);
  // Control: the same root accepts a signature its log saw while the certificate was valid.
  const inTime = await dep.signDsse(D, signer);
  t.true((await judge(keylessAttestor(exact, withLateLog), [dsseRecord(inTime)])).satisfied);
});

test('keyless_untrusted_ca_fail: a certificate from a CA outside the root', async (t) => {
  const rogue = await dep.newAuthority({ ctKey: dep.authority.ctKey });
  const json = await dep.signDsse(D, { ...signer, authority: rogue });
  t.like(await judge(keylessAttestor(exact), [dsseRecord(json)]), {
    satisfied: false,
    reason: 'CERTIFICATE_INVALID',
  });
});

test('keyless_missing_sct_fail: a certificate without an SCT', async (t) => {
  const noCt = await dep.newAuthority({ withCtLog: false });
  // Trust that CA, so only the SCT is missing.
  const root = structuredClone(dep.trustedRoot) as Loose;
  root.certificateAuthorities.push({
    ...root.certificateAuthorities[0],
    certChain: { certificates: [{ rawBytes: Buffer.from(noCt.ca.rootCertificate).toString('base64') }] },
  });
  const json = await dep.signDsse(D, { ...signer, authority: noCt });
  const outcome = await judge(keylessAttestor(exact, parseTrustedRoot(root, 'with-ct-less-ca')), [
    dsseRecord(json),
  ]);
  t.like(outcome, { satisfied: false, reason: 'CERTIFICATE_INVALID' });
});

test('keyless_invalid_sct_fail: an SCT from a CT log outside the root', async (t) => {
  const otherCt = await dep.newAuthority();
  const root = structuredClone(dep.trustedRoot) as Loose;
  root.certificateAuthorities.push({
    ...root.certificateAuthorities[0],
    certChain: { certificates: [{ rawBytes: Buffer.from(otherCt.ca.rootCertificate).toString('base64') }] },
  });
  const json = await dep.signDsse(D, { ...signer, authority: otherCt });
  const outcome = await judge(keylessAttestor(exact, parseTrustedRoot(root, 'unknown-ct')), [
    dsseRecord(json),
  ]);
  t.like(outcome, { satisfied: false, reason: 'CERTIFICATE_INVALID' });
});

test('keyless_missing_set_fail: no inclusion promise and no timestamp', async (t) => {
  const json = edit(await dep.signDsse(D, signer), (b) => {
    delete b.verificationMaterial.tlogEntries[0].inclusionPromise;
  });
  t.like(await judge(keylessAttestor(exact), [dsseRecord(json)]), {
    satisfied: false,
    reason: 'TIMESTAMP_INVALID',
  });
});

test('keyless_invalid_set_fail: a SET that does not verify', async (t) => {
  const json = edit(await dep.signDsse(D, signer), (b) => {
    const e = b.verificationMaterial.tlogEntries[0];
    e.integratedTime = String(Number(e.integratedTime) + 1);
  });
  t.like(await judge(keylessAttestor(exact), [dsseRecord(json)]), {
    satisfied: false,
    reason: 'TRANSPARENCY_LOG_INVALID',
  });
});

test('keyless_corrupted_inclusion_proof_fail', async (t) => {
  const json = edit(await dep.signDsse(D, signer), (b) => {
    const proof = b.verificationMaterial.tlogEntries[0].inclusionProof;
    proof.hashes = [Buffer.alloc(32, 7).toString('base64')];
  });
  t.like(await judge(keylessAttestor(exact), [dsseRecord(json)]), {
    satisfied: false,
    reason: 'TRANSPARENCY_LOG_INVALID',
  });
});

test('keyless_checkpoint_by_unknown_log_fail: an entry from a log outside the root', async (t) => {
  const rogueLog = await dep.newLog();
  const json = await dep.signDsse(D, { ...signer, log: rogueLog });
  t.like(await judge(keylessAttestor(exact), [dsseRecord(json)]), {
    satisfied: false,
    reason: 'TRANSPARENCY_LOG_INVALID',
  });
});

test('keyless_bundle_for_another_digest_fail', async (t) => {
  const json = await dep.signDsse(digestOf('other'), signer);
  t.like(await judge(keylessAttestor(exact), [dsseRecord(json)]), {
    satisfied: false,
    reason: 'DIGEST_MISMATCH',
  });
  const payload = createSimpleSigningPayload(NAME, digestOf('other'));
  const msg = messageRecord(payload, await dep.signMessage(payload, signer));
  t.like(await judge(keylessAttestor(exact), [msg]), { satisfied: false, reason: 'DIGEST_MISMATCH' });
});

test('keyless_swapped_payload_fail: a valid bundle with another payload', async (t) => {
  const signed = createSimpleSigningPayload(NAME, digestOf('other'));
  const json = await dep.signMessage(signed, signer);
  const outcome = await judge(keylessAttestor(exact), [
    messageRecord(createSimpleSigningPayload(NAME, D), json),
  ]);
  t.false(outcome.satisfied);
  t.not(outcome.reason, 'VERIFIED');
});

test('key_signed_offered_to_keyless_attestor_fail', async (t) => {
  const key = makeKey('ECDSA_P256_SHA256');
  const payload = payloadFor(NAME, D);
  const keySigned: AttestationRecord = { payload, signatures: [{ signature: signWith(key, payload) }] };
  t.like(await judge(keylessAttestor(exact), [keySigned]), { satisfied: false, reason: 'NO_ATTESTATION' });
  // A bundle signed with a key (public key hint) is not keyless evidence either.
  const json = edit(await dep.signDsse(D, signer), (b) => {
    delete b.verificationMaterial.certificate;
    b.verificationMaterial.publicKey = { hint: 'some-key' };
  });
  t.like(await judge(keylessAttestor(exact), [dsseRecord(json)]), {
    satisfied: false,
    reason: 'NOT_KEYLESS',
  });
});

test('keyless_offered_to_key_attestor_fail: a Fulcio-certified signature does not satisfy a key attestor', async (t) => {
  const key = makeKey('ECDSA_P256_SHA256');
  const keyed: TrustedAttestor = { name: 'keyed', keys: [trustKey(key, 'k1')], threshold: 1 };
  const [keyedOutcome, ciOutcome] = await verifyAttestors(
    [keyed, keylessAttestor(exact)],
    image,
    [dsseRecord(await dep.signDsse(D, signer))],
    { bindDockerReference: false },
  );
  t.like(keyedOutcome, { satisfied: false, reason: 'NO_ATTESTATION' });
  t.true(ciOutcome?.satisfied);
});

test('a keyless bundle is verified once per decision, whatever the number of identities', async (t) => {
  const { VerificationSession } = await import('../../src/verify/verification-session.js');
  const session = new VerificationSession();
  const records = [dsseRecord(await dep.signDsse(D, signer))];
  const a = keylessAttestor([{ issuer: GITHUB_ISSUER, subject: 'nobody' }, exact]);
  const b = { ...keylessAttestor(exact), name: 'other' };
  const outcomes = await verifyAttestors([a, b], image, records, { bindDockerReference: false, session });
  t.true(outcomes.every((o) => o.satisfied));
  t.is(session.verifications, 4);
});

test('trusted root: not a root, no CA, no log → CG_ERR_TRUSTED_ROOT_INVALID', (t) => {
  for (const bad of [
    null,
    [],
    {},
    { mediaType: 'x' },
    { ...dep.trustedRoot, certificateAuthorities: [] },
    { ...dep.trustedRoot, tlogs: [] },
  ]) {
    t.throws(() => parseTrustedRoot(bad, 'bad'), { message: /CG_ERR_TRUSTED_ROOT_INVALID/ });
  }
});

test('rotated_root_retired_ca_and_log_fail: validity windows of the root are honoured', async (t) => {
  const json = await dep.signDsse(D, signer);
  const hourAgo = new Date(Date.now() - 60 * 60 * 1000).toISOString();
  const inAnHour = new Date(Date.now() + 60 * 60 * 1000).toISOString();
  const withWindow = (field: 'certificateAuthorities' | 'tlogs', end: string) => {
    const root = structuredClone(dep.trustedRoot) as Loose;
    if (field === 'certificateAuthorities') root.certificateAuthorities[0].validFor.end = end;
    else root.tlogs[0].publicKey.validFor.end = end;
    return keylessAttestor(exact, parseTrustedRoot(root, `${field}-until-${end}`));
  };
  // Retired before the signature was made: refused.
  t.like(await judge(withWindow('certificateAuthorities', hourAgo), [dsseRecord(json)]), {
    satisfied: false,
    reason: 'CERTIFICATE_INVALID',
  });
  t.like(await judge(withWindow('tlogs', hourAgo), [dsseRecord(json)]), { satisfied: false });
  // Valid when the signature was made, retired later: still verifies.
  t.true((await judge(withWindow('certificateAuthorities', inAnHour), [dsseRecord(json)])).satisfied);
  t.true((await judge(withWindow('tlogs', inAnHour), [dsseRecord(json)])).satisfied);
});

test('hostile_keyless_flood_fail: bundles whose certificate does not claim an identity cost no verification', async (t) => {
  const { VerificationSession } = await import('../../src/verify/verification-session.js');
  const session = new VerificationSession();
  const strangers = await Promise.all(
    Array.from({ length: 16 }, (_, i) =>
      dep.signDsse(D, {
        subject: `https://github.com/evil/x${i}/.github/workflows/a.yml@refs/heads/main`,
        issuer: GITHUB_ISSUER,
      }),
    ),
  );
  const good = dsseRecord(await dep.signDsse(D, signer));
  const [outcome] = await verifyAttestors(
    [keylessAttestor(exact)],
    image,
    [...strangers.map(dsseRecord), good],
    {
      bindDockerReference: false,
      session,
    },
  );
  t.true(outcome?.satisfied);
  // Only the bundle that claims the identity was verified (4 budget units).
  t.is(session.verifications, 4);
});

test('rotated_root_two_generations: old signatures keep verifying, the retired keys sign nothing new', async (t) => {
  // Verification judges every key at the signing time, never at the wall clock, so the rotation can be
  // placed in the future (the test CA's root certificate only becomes valid when it is created).
  const day = 24 * 60 * 60 * 1000;
  const rotation = new Date(Date.now() + day).toISOString();
  const later = new Date(Date.now() + 2 * day);
  const gen1 = await createSigstoreDeployment();
  const gen2 = await createSigstoreDeployment(later);
  const retire = (root: Loose, end: string): Loose => {
    const r = structuredClone(root);
    r.certificateAuthorities[0].validFor.end = end;
    r.tlogs[0].publicKey.validFor.end = end;
    r.ctlogs[0].publicKey.validFor.end = end;
    return r;
  };
  const start = (root: Loose, from: string): Loose => {
    const r = structuredClone(root);
    r.certificateAuthorities[0].validFor.start = from;
    r.tlogs[0].publicKey.validFor.start = from;
    r.ctlogs[0].publicKey.validFor.start = from;
    return r;
  };
  const old = retire(gen1.trustedRoot, rotation);
  const current = start(gen2.trustedRoot, rotation);
  const rotated = parseTrustedRoot(
    {
      ...current,
      certificateAuthorities: [...old.certificateAuthorities, ...current.certificateAuthorities],
      tlogs: [...old.tlogs, ...current.tlogs],
      ctlogs: [...old.ctlogs, ...current.ctlogs],
    },
    'rotated',
  );
  const attestor = keylessAttestor(exact, rotated);

  // Made by the first generation while it was valid: still verifies after the rotation.
  const before = await gen1.signDsse(D, signer);
  t.like(await judge(attestor, [dsseRecord(before)]), { satisfied: true });
  // Made by the second generation after the rotation.
  t.like(await judge(attestor, [dsseRecord(await gen2.signDsse(D, signer))]), { satisfied: true });

  // Made after the rotation with the retired keys (stolen, or a forgotten signer): refused, whichever
  // part is retired.
  const gen1Now = await gen1.at(later);
  t.like(await judge(attestor, [dsseRecord(await gen1Now.signDsse(D, signer))]), { satisfied: false });
  t.like(await judge(attestor, [dsseRecord(await gen1Now.signDsse(D, { ...signer, log: gen2.log }))]), {
    satisfied: false,
    reason: 'CERTIFICATE_INVALID',
  });
  t.like(await judge(attestor, [dsseRecord(await gen2.signDsse(D, { ...signer, log: gen1Now.log }))]), {
    satisfied: false,
    reason: 'TRANSPARENCY_LOG_INVALID',
  });
  // A root that dropped the first generation no longer accepts its signatures, however old.
  const gen2Only = keylessAttestor(exact, parseTrustedRoot(current, 'gen2-only'));
  t.like(await judge(gen2Only, [dsseRecord(before)]), { satisfied: false, reason: 'CERTIFICATE_INVALID' });
});

test('keyless_tsa_allow: no SET, an inclusion proof and an RFC 3161 timestamp from the root’s authority', async (t) => {
  const json = await dep.signDsse(D, { ...signer, tsa: dep.tsa, inclusionPromise: false });
  const vm = (json as Loose).verificationMaterial;
  t.is(vm.tlogEntries[0].inclusionPromise, undefined);
  t.is(vm.timestampVerificationData.rfc3161Timestamps.length, 1);
  t.like(await judge(keylessAttestor(exact), [dsseRecord(json)]), { satisfied: true });
  // The .sig form (message signature) too.
  const payload = createSimpleSigningPayload(NAME, D);
  const message = await dep.signMessage(payload, { ...signer, tsa: dep.tsa, inclusionPromise: false });
  t.like(await judge(keylessAttestor(exact), [messageRecord(payload, message)]), { satisfied: true });
});

/** A GeneralizedTime as DER writes it: the fraction of a second without trailing zeros. */
function derGenTime(at: Date): string {
  const iso = at.toISOString(); // 2026-12-02T01:02:03.120Z
  const fraction = iso.slice(20, 23).replace(/0+$/, '');
  return `${iso.slice(0, 19).replace(/[-T:]/g, '')}${fraction === '' ? '' : `.${fraction}`}Z`;
}

test('keyless_tsa_subsecond_gentime_allow: genTime stamped at .5, .12, .005, .999 and whole seconds', async (t) => {
  // The flake of the TSA tests: a TSA stamping at a tenth or hundredth of a second writes genTime as `.5` or
  // `.12` (DER drops trailing zeros); @sigstore/core only parsed three digits and refused these valid
  // timestamps with a certificate error. Fixed fractions make each case happen every run; stamping a
  // minute ahead keeps the stamp inside the 10-minute certificate and after the TSA's certificates
  // (issued now) however slow the machine.
  for (const ms of [500, 120, 5, 999, 0]) {
    const clock = new Date(Math.floor(Date.now() / 1000) * 1000 + 60_000 + ms);
    const tsa = await dep.newTsa(clock);
    const root = structuredClone(dep.trustedRoot) as Loose;
    root.timestampAuthorities.push(tsa.entry);
    const attestor = keylessAttestor(exact, parseTrustedRoot(root, `tsa-at-${ms}ms`));
    const json = (await dep.signDsse(D, { ...signer, tsa, inclusionPromise: false })) as Loose;
    const der = Buffer.from(
      json.verificationMaterial.timestampVerificationData.rfc3161Timestamps[0].signedTimestamp,
      'base64',
    );
    t.true(der.includes(Buffer.from(derGenTime(clock))), `genTime ${derGenTime(clock)} is in the timestamp`);
    t.like(
      await judge(attestor, [dsseRecord(json)]),
      { satisfied: true },
      `stamped at ${clock.toISOString()}`,
    );
  }
});

test('keyless_tsa_malformed_gentime_fail: a genTime that is no GeneralizedTime is a timestamp error', async (t) => {
  const clock = new Date(Math.floor(Date.now() / 1000) * 1000 + 60_500);
  const tsa = await dep.newTsa(clock);
  const root = structuredClone(dep.trustedRoot) as Loose;
  root.timestampAuthorities.push(tsa.entry);
  const attestor = keylessAttestor(exact, parseTrustedRoot(root, 'tsa-malformed'));
  const json = await dep.signDsse(D, { ...signer, tsa, inclusionPromise: false });
  const broken = edit(json, (b) => {
    const stamps = b.verificationMaterial.timestampVerificationData.rfc3161Timestamps;
    const der = Buffer.from(stamps[0].signedTimestamp, 'base64');
    const genTime = Buffer.from(derGenTime(clock));
    const at = der.indexOf(genTime);
    t.true(at > 0);
    der[at + genTime.length - 1] = 0x59; // 'Z' -> 'Y': no longer UTC
    stamps[0].signedTimestamp = der.toString('base64');
  });
  t.like(await judge(attestor, [dsseRecord(broken)]), { satisfied: false, reason: 'TIMESTAMP_INVALID' });
});

test('keyless_tsa_untrusted_fail: a timestamp from an authority outside the root', async (t) => {
  const stranger = await dep.newTsa();
  const json = await dep.signDsse(D, { ...signer, tsa: stranger, inclusionPromise: false });
  t.like(await judge(keylessAttestor(exact), [dsseRecord(json)]), {
    satisfied: false,
    reason: 'TIMESTAMP_INVALID',
  });
});

test('keyless_tsa_outside_certificate_validity_fail: stamped after the 10-minute certificate expired', async (t) => {
  const late = await dep.newTsa(new Date(Date.now() + 60 * 60 * 1000));
  const root = structuredClone(dep.trustedRoot) as Loose;
  root.timestampAuthorities.push(late.entry);
  const attestor = keylessAttestor(exact, parseTrustedRoot(root, 'with-late-tsa'));
  const json = await dep.signDsse(D, { ...signer, tsa: late, inclusionPromise: false });
  t.like(await judge(attestor, [dsseRecord(json)]), { satisfied: false, reason: 'CERTIFICATE_INVALID' });
});

test('keyless_tsa_other_signature_fail: a trusted timestamp of another signature', async (t) => {
  const json = await dep.signDsse(D, { ...signer, inclusionPromise: false });
  const other = await dep.signDsse(D, { ...signer, tsa: dep.tsa, inclusionPromise: false });
  const swapped = edit(json, (b) => {
    b.verificationMaterial.timestampVerificationData = (
      other as Loose
    ).verificationMaterial.timestampVerificationData;
  });
  t.like(await judge(keylessAttestor(exact), [dsseRecord(swapped)]), {
    satisfied: false,
    reason: 'TIMESTAMP_INVALID',
  });
});

test('keyless_sig_rfc3161_annotation: the .sig layer’s dev.sigstore.cosign/rfc3161timestamp is checked against the root', async (t) => {
  const { bundleFromCosignAnnotations, COSIGN_RFC3161_ANNOTATION } =
    await import('../../src/attestations/cosign-keyless-annotations.js');
  const { cosignAnnotations } = await import('../helpers/sigstore-push.js');
  const payload = createSimpleSigningPayload(NAME, D);
  const record = async (tsa: typeof dep.tsa): Promise<AttestationRecord> => {
    const json = (await dep.signMessage(payload, { ...signer, tsa })) as Loose;
    const annotations = {
      ...cosignAnnotations(dep, json),
      [COSIGN_RFC3161_ANNOTATION]: JSON.stringify({
        SignedRFC3161Timestamp:
          json.verificationMaterial.timestampVerificationData.rfc3161Timestamps[0].signedTimestamp,
      }),
    };
    const signature = Buffer.from(json.messageSignature.signature, 'base64');
    const bundle = bundleFromCosignAnnotations(annotations, payload, signature);
    t.is(bundle?.verificationMaterial.timestampVerificationData?.rfc3161Timestamps.length, 1);
    return { payload, signatures: [{ signature }], sigstoreBundle: bundle };
  };
  t.like(await judge(keylessAttestor(exact), [await record(dep.tsa)]), { satisfied: true });
  t.like(await judge(keylessAttestor(exact), [await record(await dep.newTsa())]), {
    satisfied: false,
    reason: 'TIMESTAMP_INVALID',
  });
});
