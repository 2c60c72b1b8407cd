import { readFile } from 'node:fs/promises';
import { bundleFromJSON } from '@sigstore/bundle';
import type { Bundle } from '@sigstore/bundle';
import { VerifyError } from '../verify/errors.js';
import { compileIdentity } from '../verify/keyless/identity.js';
import type { KeylessIdentity } from '../verify/keyless/identity.js';
import { publicGoodTrust } from '../verify/keyless/public-good.js';
import { parseTrustedRoot } from '../verify/keyless/trusted-root.js';
import type { KeylessTrust } from '../verify/keyless/trusted-root.js';
import { verifyArtifactBundle } from '../verify/keyless/verify-artifact.js';
import type { CommandIo } from './command.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { parseOptions, requireOption } from './parse-options.js';

/** Largest bundle, trusted root or artifact read (bundles are a few KiB). */
const MAX_FILE_BYTES = 64 * 1024 * 1024;
const DIGEST = /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/;

export const VERIFY_BUNDLE_USAGE = [
  'Usage: criguard verify --bundle FILE (--certificate-identity ID | --certificate-identity-regexp RE)',
  '                       (--certificate-oidc-issuer URL | --certificate-oidc-issuer-regexp RE)',
  '                       [--certificate-github-workflow-trigger|-sha|-name|-repository|-ref VALUE]',
  '                       [--trusted-root FILE] [--artifact FILE] [--output text|json] sha256:DIGEST',
  '',
  'Verifies one Sigstore bundle for a digest offline (like cosign verify-blob): the certificate chains to',
  'a CA of the trusted root (default: the Sigstore public-good root shipped with criguard), its SCT and',
  'transparency-log entry verify, the identity matches (regexps must match the whole value), and the',
  'signature covers the digest. A message-signature bundle needs --artifact (the signed file itself).',
  'Exit codes: 0 verified, 1 not verified (the reason is printed), 2 unreadable bundle or root, 64 usage.',
].join('\n');

/** `criguard verify --bundle …`: one bundle, one digest, offline. */
export async function runVerifyBundle(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseOptions(
    args,
    {
      bundle: { type: 'string' },
      'certificate-identity': { type: 'string' },
      'certificate-identity-regexp': { type: 'string' },
      'certificate-oidc-issuer': { type: 'string' },
      'certificate-oidc-issuer-regexp': { type: 'string' },
      'certificate-github-workflow-trigger': { type: 'string' },
      'certificate-github-workflow-sha': { type: 'string' },
      'certificate-github-workflow-name': { type: 'string' },
      'certificate-github-workflow-repository': { type: 'string' },
      'certificate-github-workflow-ref': { type: 'string' },
      'trusted-root': { type: 'string' },
      artifact: { type: 'string' },
      output: { type: 'string' },
    },
    true,
  );
  const bundlePath = requireOption(values.bundle, 'bundle');
  const output = values.output ?? 'text';
  if (output !== 'text' && output !== 'json') throw new UsageError('--output must be text or json');
  if (positionals.length !== 1 || !DIGEST.test(positionals[0] ?? '')) {
    throw new UsageError('give one digest: sha256:<64 hex> (or sha512:<128 hex> for an in-toto subject)');
  }
  const digest = positionals[0] ?? '';
  let identity: KeylessIdentity;
  try {
    identity = compileIdentity({
      subject: values['certificate-identity'],
      subjectRegExp: values['certificate-identity-regexp'],
      issuer: values['certificate-oidc-issuer'],
      issuerRegExp: values['certificate-oidc-issuer-regexp'],
      github: definedOnly({
        workflowTrigger: values['certificate-github-workflow-trigger'],
        workflowSha: values['certificate-github-workflow-sha'],
        workflowName: values['certificate-github-workflow-name'],
        workflowRepository: values['certificate-github-workflow-repository'],
        workflowRef: values['certificate-github-workflow-ref'],
      }),
    });
  } catch (err) {
    if (err instanceof VerifyError)
      throw new UsageError(err.message.replace(/^CG_ERR_IDENTITY_INVALID: /, ''));
    throw err;
  }

  let bundle: Bundle;
  let trust: KeylessTrust;
  let artifact: Uint8Array | undefined;
  try {
    bundle = bundleFromJSON(JSON.parse((await readBounded(bundlePath)).toString('utf8')));
  } catch (err) {
    io.stderr(`criguard verify: ${bundlePath}: not a Sigstore bundle (${message(err)})\n`);
    return ExitCode.INVALID_INPUT;
  }
  try {
    const rootPath = values['trusted-root'];
    trust =
      rootPath === undefined
        ? publicGoodTrust()
        : parseTrustedRoot(JSON.parse((await readBounded(rootPath)).toString('utf8')), rootPath);
    if (values.artifact !== undefined) artifact = await readBounded(values.artifact);
  } catch (err) {
    io.stderr(`criguard verify: ${message(err)}\n`);
    return ExitCode.INVALID_INPUT;
  }

  const result = verifyArtifactBundle(bundle, digest, artifact, trust, [identity]);
  if (output === 'json') {
    io.stdout(
      `${JSON.stringify({ digest, bundle: bundlePath, trustedRoot: trust.source, ...plain(result) }, null, 2)}\n`,
    );
  } else if (result.ok) {
    io.stdout(
      [
        `VERIFIED ${digest}`,
        `signer:       ${result.signer.subject ?? ''}`,
        `issuer:       ${result.signer.issuer ?? ''}`,
        ...(result.predicateType === undefined ? [] : [`predicate:    ${result.predicateType}`]),
        `trusted root: ${trust.source}`,
        '',
      ].join('\n'),
    );
  } else {
    io.stdout(
      [
        `NOT VERIFIED ${result.reason}`,
        `why:          ${result.detail}`,
        `trusted root: ${trust.source}`,
        '',
      ].join('\n'),
    );
  }
  return result.ok ? ExitCode.OK : ExitCode.DENIED_OR_FAILED;
}

async function readBounded(path: string): Promise<Buffer> {
  const buf = await readFile(path).catch((err: unknown) => {
    throw new Error(`${path}: cannot read (${message(err)})`);
  });
  if (buf.length > MAX_FILE_BYTES) throw new Error(`${path}: over ${MAX_FILE_BYTES} bytes`);
  return buf;
}

function definedOnly(o: Record<string, string | undefined>): Record<string, string> | undefined {
  const entries = Object.entries(o).filter((e): e is [string, string] => e[1] !== undefined);
  return entries.length === 0 ? undefined : Object.fromEntries(entries);
}

function plain(result: ReturnType<typeof verifyArtifactBundle>): Record<string, unknown> {
  const signer =
    result.signer === undefined
      ? undefined
      : { subject: result.signer.subject, issuer: result.signer.issuer };
  return result.ok
    ? { verified: true, signer, identity: result.identity, predicateType: result.predicateType }
    : { verified: false, reason: result.reason, detail: result.detail, signer };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
