/**
 * A private Sigstore deployment built offline for tests: a Fulcio-like CA issuing short-lived certificates
 * with Fulcio's extensions and an embedded SCT from a test CT log, a Rekor-like log signing SETs and
 * checkpoints, an RFC 3161 timestamp authority, and the trusted_root.json that trusts them. Signs cosign-style keyless signatures as
 * Sigstore bundles (DSSE in-toto statements, like cosign 3) or message signatures (the legacy `.sig` form).
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import type { KeyPairKeyObjectResult } from 'node:crypto';
import { X509Certificate } from '@sigstore/core';
import { initializeCA, initializeTLog, initializeTSA } from '@sigstore/mock';
import { encodeDssePae } from '../../src/verify/dsse.js';

type CA = Awaited<ReturnType<typeof initializeCA>>;
type CTLog = NonNullable<Parameters<typeof initializeCA>[1]>;
type TLog = Awaited<ReturnType<typeof initializeTLog>>;
type TSA = Awaited<ReturnType<typeof initializeTSA>>;

const ec = (): KeyPairKeyObjectResult => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const b64 = (b: Uint8Array | string): string => Buffer.from(b).toString('base64');
const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();
const spki = (k: KeyPairKeyObjectResult): Buffer => k.publicKey.export({ type: 'spki', format: 'der' });

/** Bytes as the certificate parsers type them. */
export const own = (b: Uint8Array): Buffer<ArrayBuffer> => Buffer.from(b);

/** The DER of a Sigstore bundle's leaf certificate. */
export const leafOf = (bundle: Record<string, unknown>): Buffer<ArrayBuffer> =>
  Buffer.from(
    (bundle as { verificationMaterial: { certificate: { rawBytes: string } } }).verificationMaterial
      .certificate.rawBytes,
    'base64',
  );

export const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';
export const FULCIO_OIDS = Object.freeze({
  issuerV2: '1.3.6.1.4.1.57264.1.8',
  workflowTrigger: '1.3.6.1.4.1.57264.1.2',
  workflowSha: '1.3.6.1.4.1.57264.1.3',
  workflowName: '1.3.6.1.4.1.57264.1.4',
  workflowRepository: '1.3.6.1.4.1.57264.1.5',
  workflowRef: '1.3.6.1.4.1.57264.1.6',
});

/** One CA with its CT log and key material, so tests can build untrusted twins. */
export interface Authority {
  readonly ca: CA;
  readonly caKey: KeyPairKeyObjectResult;
  readonly ctlog: CTLog | undefined;
  readonly ctKey: KeyPairKeyObjectResult | undefined;
}

/** A Rekor-like log with its key. */
export interface Log {
  readonly tlog: TLog;
  readonly key: KeyPairKeyObjectResult;
}

/** An RFC 3161 timestamp authority and its `timestampAuthorities` entry for a trusted root. */
export interface TimestampAuthority {
  readonly tsa: TSA;
  readonly entry: Record<string, unknown>;
}

/** Who signs, and when (the CA's clock: the certificate is valid 10 minutes from then). */
export interface SignOptions {
  readonly subject: string;
  readonly issuer: string;
  /** Extra extensions, raw (v1) strings by dotted OID. */
  readonly extensions?: Readonly<Record<string, string>>;
  readonly authority?: Authority;
  readonly log?: Log;
  /** Adds an RFC 3161 timestamp of the signature from this authority. */
  readonly tsa?: TimestampAuthority;
  /** false: the log entry has no inclusion promise (SET), only its inclusion proof and checkpoint. */
  readonly inclusionPromise?: boolean;
}

export interface SigstoreDeployment {
  readonly authority: Authority;
  readonly log: Log;
  /** The timestamp authority the trusted root trusts (signatures carry its timestamps only on request). */
  readonly tsa: TimestampAuthority;
  /** trusted_root.json trusting the CA, the CT log, the log and the timestamp authority. */
  readonly trustedRoot: Record<string, unknown>;
  /** A bundle v0.3 whose DSSE envelope carries cosign's signing statement for `digest`. */
  signDsse(digest: string, opts: SignOptions): Promise<Record<string, unknown>>;
  /** A bundle v0.3 with a message signature over `payload` (what a `.sig` layer signs). */
  signMessage(payload: Uint8Array, opts: SignOptions): Promise<Record<string, unknown>>;
  /** A second CA (with its own CT log) the trusted root does not know. */
  newAuthority(opts?: {
    clock?: Date;
    withCtLog?: boolean;
    ctKey?: KeyPairKeyObjectResult;
  }): Promise<Authority>;
  /** A second log the trusted root does not know. */
  newLog(clock?: Date): Promise<Log>;
  /** A timestamp authority the trusted root does not know, stamping at `clock` (default now). */
  newTsa(clock?: Date): Promise<TimestampAuthority>;
  /**
   * The same deployment (its CA, CT log and log keys, its trusted root) signing with another clock: what
   * someone holding its keys can do after they were retired, or a signature made in the past.
   */
  at(clock: Date): Promise<SigstoreDeployment>;
}

async function makeAuthority(
  clock?: Date,
  withCtLog = true,
  ctKeyIn?: KeyPairKeyObjectResult,
  caKey: KeyPairKeyObjectResult = ec(),
): Promise<Authority> {
  const ctKey = withCtLog ? (ctKeyIn ?? ec()) : undefined;
  const ctlog = ctKey === undefined ? undefined : ctLogOf(ctKey, clock);
  const ca = await initializeCA(caKey, ctlog, clock);
  return { ca, caKey, ctlog, ctKey };
}

/**
 * A CT log that issues RFC 6962 SCTs for precertificates (the mock's own SCT encoder does not produce a
 * well-formed SCT). Returns each SCT prefixed with its length, as an entry of the SCT list the mock CA
 * wraps in the certificate extension.
 */
function ctLogOf(key: KeyPairKeyObjectResult, clock?: Date): CTLog {
  const publicKey = spki(key);
  const logID = sha256(publicKey);
  return {
    publicKey,
    logID,
    log: async (certificate: ArrayBuffer, issuerID: ArrayBuffer) => {
      const tbs = X509Certificate.parse(Buffer.from(certificate)).tbsCertificate.toDER();
      const timestamp = Buffer.alloc(8);
      timestamp.writeBigUInt64BE(BigInt((clock ?? new Date()).getTime()));
      const tbsLength = Buffer.alloc(3);
      tbsLength.writeUIntBE(tbs.length, 0, 3);
      const signed = Buffer.concat([
        Buffer.from([0, 0]), // v1, certificate_timestamp
        timestamp,
        Buffer.from([0, 1]), // precert_entry
        Buffer.from(issuerID),
        tbsLength,
        tbs,
        Buffer.from([0, 0]), // no extensions
      ]);
      const sig = sign('sha256', signed, key.privateKey);
      const sigLength = Buffer.alloc(2);
      sigLength.writeUInt16BE(sig.length);
      const sct = Buffer.concat([
        Buffer.from([0]),
        logID,
        timestamp,
        Buffer.from([0, 0]),
        Buffer.from([4, 3]), // sha256, ecdsa
        sigLength,
        sig,
      ]);
      const entryLength = Buffer.alloc(2);
      entryLength.writeUInt16BE(sct.length);
      const out = Buffer.concat([entryLength, sct]);
      return out.buffer.slice(out.byteOffset, out.byteOffset + out.length) as ArrayBuffer;
    },
  };
}

async function makeTsa(clock?: Date): Promise<TimestampAuthority> {
  const tsa = await initializeTSA(ec(), clock);
  const entry = {
    subject: { organization: 'sigstore.mock', commonName: 'tsa' },
    uri: 'https://tsa.test',
    certChain: {
      certificates: [{ rawBytes: b64(tsa.intCertificate) }, { rawBytes: b64(tsa.rootCertificate) }],
    },
    validFor: { start: new Date(Date.UTC(2020, 0, 1)).toISOString() },
  };
  return { tsa, entry };
}

/** An RFC 3161 timestamp response over `signature`, as Sigstore clients request it. */
async function stamp(authority: TimestampAuthority, signature: Buffer): Promise<string> {
  const der = await authority.tsa.timestamp({
    artifactHash: sha256(signature),
    hashAlgorithmOID: '2.16.840.1.101.3.4.2.1',
    nonce: Math.floor(Math.random() * 2 ** 31),
    policyOID: '1.3.6.1.4.1.57264.2',
  });
  return b64(der);
}

async function makeLog(clock?: Date, key: KeyPairKeyObjectResult = ec()): Promise<Log> {
  return { tlog: await initializeTLog('https://rekor.test', key, clock), key };
}

/**
 * Builds a deployment; `clock` (default now) is when certificates are issued and entries logged. `keys`:
 * reuse another deployment's keys and trusted root (the CA's root certificate is then re-issued with the
 * same key, so leaves chain to the original one by key identifier and signature).
 */
export async function createSigstoreDeployment(
  clock?: Date,
  keys?: SigstoreDeployment,
): Promise<SigstoreDeployment> {
  const authority = await makeAuthority(clock, true, keys?.authority.ctKey, keys?.authority.caKey);
  const log = await makeLog(clock, keys?.log.key);
  const tsa = keys?.tsa ?? (await makeTsa(clock));
  const start = new Date(Date.UTC(2020, 0, 1)).toISOString();
  const trustedRoot = keys?.trustedRoot ?? {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [
      {
        baseUrl: 'https://rekor.test',
        hashAlgorithm: 'SHA2_256',
        publicKey: {
          rawBytes: b64(spki(log.key)),
          keyDetails: 'PKIX_ECDSA_P256_SHA_256',
          validFor: { start },
        },
        logId: { keyId: b64(sha256(spki(log.key))) },
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
        uri: 'https://fulcio.test',
        certChain: { certificates: [{ rawBytes: b64(authority.ca.rootCertificate) }] },
        validFor: { start },
      },
    ],
    ctlogs: [
      {
        baseUrl: 'https://ctfe.test',
        hashAlgorithm: 'SHA2_256',
        publicKey: {
          rawBytes: b64(authority.ctlog!.publicKey),
          keyDetails: 'PKIX_ECDSA_P256_SHA_256',
          validFor: { start },
        },
        logId: { keyId: b64(authority.ctlog!.logID) },
      },
    ],
    timestampAuthorities: [tsa.entry],
  };

  async function certify(
    opts: SignOptions,
  ): Promise<{ key: KeyPairKeyObjectResult; cert: Buffer; pem: string }> {
    const key = ec();
    const extensions = [
      { oid: FULCIO_OIDS.issuerV2, value: opts.issuer },
      ...Object.entries(opts.extensions ?? {}).map(([oid, value]) => ({ oid, value, legacy: true })),
    ];
    const cert = await (opts.authority ?? authority).ca.issueCertificate({
      publicKey: spki(key),
      subjectAltName: opts.subject,
      extensions,
    });
    const pem = `-----BEGIN CERTIFICATE-----\n${b64(cert).replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
    return { key, cert, pem };
  }

  function bundle(
    cert: Buffer,
    entry: Record<
      string,
      {
        body: string;
        integratedTime: number;
        logID: string;
        logIndex: number;
        verification: {
          signedEntryTimestamp: string;
          inclusionProof: {
            logIndex: number;
            treeSize: number;
            rootHash: string;
            hashes: string[];
            checkpoint: string;
          };
        };
      }
    >,
    kind: string,
    content: Record<string, unknown>,
    opts: SignOptions,
    timestamps: string[],
  ): Record<string, unknown> {
    const e = Object.values(entry)[0]!;
    const proof = e.verification.inclusionProof;
    return {
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: {
        certificate: { rawBytes: b64(cert) },
        tlogEntries: [
          {
            logIndex: String(e.logIndex),
            logId: { keyId: b64(Buffer.from(e.logID, 'hex')) },
            kindVersion: { kind, version: '0.0.1' },
            integratedTime: String(e.integratedTime),
            ...(opts.inclusionPromise === false
              ? {}
              : { inclusionPromise: { signedEntryTimestamp: e.verification.signedEntryTimestamp } }),
            inclusionProof: {
              logIndex: String(proof.logIndex),
              rootHash: b64(Buffer.from(proof.rootHash, 'hex')),
              treeSize: String(proof.treeSize),
              hashes: proof.hashes,
              checkpoint: { envelope: proof.checkpoint },
            },
            canonicalizedBody: e.body,
          },
        ],
        timestampVerificationData: { rfc3161Timestamps: timestamps.map((t) => ({ signedTimestamp: t })) },
      },
      ...content,
    };
  }

  const deployment: SigstoreDeployment = {
    authority,
    log,
    tsa,
    trustedRoot,
    async signDsse(digest, opts) {
      const { key, cert, pem } = await certify(opts);
      const [algorithm, hex] = digest.split(':') as [string, string];
      const statement = Buffer.from(
        JSON.stringify({
          _type: 'https://in-toto.io/Statement/v1',
          subject: [{ name: 'image', digest: { [algorithm]: hex } }],
          predicateType: 'https://sigstore.dev/cosign/sign/v1',
          predicate: {},
        }),
      );
      const payloadType = 'application/vnd.in-toto+json';
      const sig = sign('sha256', encodeDssePae(payloadType, statement), key.privateKey);
      const envelope = { payload: b64(statement), payloadType, signatures: [{ sig: b64(sig), keyid: '' }] };
      const entry = await (opts.log ?? log).tlog.log({
        apiVersion: '0.0.1',
        kind: 'dsse',
        spec: {
          envelopeHash: {
            algorithm: 'sha256',
            value: sha256(Buffer.from(JSON.stringify(envelope))).toString('hex'),
          },
          payloadHash: { algorithm: 'sha256', value: sha256(statement).toString('hex') },
          signatures: [{ signature: b64(sig), verifier: b64(pem) }],
        },
      });
      const timestamps = opts.tsa === undefined ? [] : [await stamp(opts.tsa, sig)];
      return bundle(cert, entry as never, 'dsse', { dsseEnvelope: envelope }, opts, timestamps);
    },
    async signMessage(payload, opts) {
      const { key, cert, pem } = await certify(opts);
      const sig = sign('sha256', payload, key.privateKey);
      const entry = await (opts.log ?? log).tlog.log({
        apiVersion: '0.0.1',
        kind: 'hashedrekord',
        spec: {
          data: { hash: { algorithm: 'sha256', value: sha256(payload).toString('hex') } },
          signature: { content: b64(sig), publicKey: { content: b64(pem) } },
        },
      });
      const timestamps = opts.tsa === undefined ? [] : [await stamp(opts.tsa, sig)];
      const content = {
        messageSignature: {
          messageDigest: { algorithm: 'SHA2_256', digest: b64(sha256(payload)) },
          signature: b64(sig),
        },
      };
      return bundle(cert, entry as never, 'hashedrekord', content, opts, timestamps);
    },
    newAuthority: (opts) => makeAuthority(opts?.clock, opts?.withCtLog ?? true, opts?.ctKey),
    newLog: (c) => makeLog(c ?? clock),
    newTsa: (c) => makeTsa(c ?? clock),
    at: (c) => createSigstoreDeployment(c, deployment),
  };
  return deployment;
}
