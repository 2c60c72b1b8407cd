import { readFile } from 'node:fs/promises';
import { writeAttestationFile } from '../attestations/local-directory-source.js';
import { InvalidReferenceError } from '../reference/errors.js';
import { parseImageIdentity, parseImageReference } from '../reference/image-reference.js';
import { createRegistryClient } from '../registry/registry-client.js';
import { pushCosignSignature } from '../attestations/cosign-push.js';
import type { ImageIdentity } from '../reference/image-reference.js';
import { SigningError } from '../signing/errors.js';
import { loadSigningKey, signPayload } from '../signing/signing-key.js';
import { createCosignPayload, createSimpleSigningPayload } from '../verify/simple-signing.js';
import type { Command } from './command.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { parseOptions, requireOption } from './parse-options.js';

/** Environment variable holding the private key's passphrase (never a command-line argument). */
export const PASSPHRASE_ENV = 'CRIGUARD_KEY_PASSPHRASE';
/** cosign's passphrase variable: used when set, even to the empty string (as cosign does). */
export const COSIGN_PASSWORD_ENV = 'COSIGN_PASSWORD';

/** `criguard sign`: signs a simple-signing payload for IMAGE@DIGEST into the attestation directory. */
export const signCommand: Command = {
  name: 'sign',
  summary: 'sign an image digest into a local attestation directory and/or its registry',
  usage: [
    'Usage: criguard sign --key FILE [--key-id ID] [--algorithm NAME] [--passphrase-file FILE]',
    '                     [--attestations-dir DIR] [--push [--plain-http]] IMAGE@sha256:DIGEST',
    '',
    'At least one destination: --attestations-dir writes DIR/sha256-<hex>/<file>.json; --push adds a',
    'cosign signature (payload type "cosign container image signature") to the tag sha256-<hex>.sig in',
    'the image repository (credentials from',
    '$CRIGUARD_REGISTRY_USERNAME / $CRIGUARD_REGISTRY_PASSWORD; plain HTTP for loopback registries, or',
    'any registry with --plain-http).',
    '',
    'Keys: criguard/OpenSSL PEM (PKCS#8, EC, RSA) or cosign "ENCRYPTED SIGSTORE PRIVATE KEY".',
    `Passphrase: --passphrase-file, else $${PASSPHRASE_ENV}, else $${COSIGN_PASSWORD_ENV} (when set, even`,
    'empty). --algorithm picks the RSA scheme.',
  ].join('\n'),
  async run(args, io) {
    const { values, positionals } = parseOptions(
      args,
      {
        key: { type: 'string' },
        'key-id': { type: 'string' },
        algorithm: { type: 'string' },
        'passphrase-file': { type: 'string' },
        'attestations-dir': { type: 'string' },
        push: { type: 'boolean' },
        'plain-http': { type: 'boolean' },
      },
      true,
    );
    const keyPath = requireOption(values.key, 'key');
    const dir = values['attestations-dir'];
    if (dir === undefined && !values.push)
      throw new UsageError('give --attestations-dir DIR, --push, or both');
    const image = parseImageArgument(positionals);
    const passphrase =
      values['passphrase-file'] !== undefined
        ? (await readFile(values['passphrase-file'], 'utf8')).replace(/\r?\n$/, '')
        : (io.env[PASSPHRASE_ENV] ?? io.env[COSIGN_PASSWORD_ENV]);
    let pem: string;
    try {
      pem = await readFile(keyPath, 'utf8');
    } catch {
      io.stderr(`criguard sign: cannot read ${keyPath}\n`);
      return ExitCode.DENIED_OR_FAILED;
    }
    try {
      const key = loadSigningKey(pem, passphrase, values.algorithm);
      if (dir !== undefined) {
        // The attestation directory holds Binary Authorization's payload (what gcloud writes).
        const payload = createSimpleSigningPayload(image.name, image.digest);
        const path = await writeAttestationFile(dir, image.digest, {
          payload,
          signatures: [{ publicKeyId: values['key-id'] ?? key.keyId, signature: signPayload(key, payload) }],
        });
        io.stdout(`${path}\n`);
      }
      if (values.push) {
        // The registry gets cosign's payload, which cosign and containers/image accept.
        const payload = createCosignPayload(image.name, image.digest);
        const signature = signPayload(key, payload);
        const pushed = await pushSignature(image, payload, signature, values['plain-http'] === true, io.env);
        io.stdout(`${pushed}\n`);
      }
      return ExitCode.OK;
    } catch (err) {
      if (err instanceof SigningError) {
        io.stderr(`criguard sign: ${err.message}\n`);
        return ExitCode.INVALID_INPUT;
      }
      const code = (err as { code?: string }).code;
      if (typeof code === 'string' && code.startsWith('CG_ERR_')) {
        io.stderr(`criguard sign: ${code}: ${(err as Error).message}\n`);
        return ExitCode.DENIED_OR_FAILED;
      }
      throw err;
    }
  },
};

/** Pushes a cosign `.sig` signature for `image`; resolves to `<repository>:<tag>` written. */
async function pushSignature(
  image: ImageIdentity,
  payload: Uint8Array,
  signature: Uint8Array,
  plainHttp: boolean,
  env: Readonly<Record<string, string | undefined>>,
): Promise<string> {
  const host = parseImageReference(image.name).domain;
  const client = createRegistryClient({ hosts: plainHttp ? { [host]: { plainHttp: true } } : {} });
  try {
    const username = env.CRIGUARD_REGISTRY_USERNAME;
    const credentials = username ? { username, password: env.CRIGUARD_REGISTRY_PASSWORD ?? '' } : undefined;
    const pushed = await pushCosignSignature(client, image, payload, signature, { credentials });
    return `${image.name}:${pushed.tag}`;
  } finally {
    await client.close();
  }
}

/** Exactly one positional IMAGE@sha256:DIGEST, normalised; UsageError otherwise. */
export function parseImageArgument(positionals: readonly string[]): ImageIdentity {
  if (positionals.length !== 1) throw new UsageError('expected exactly one IMAGE@sha256:DIGEST');
  try {
    return parseImageIdentity(positionals[0] ?? '');
  } catch (err) {
    if (err instanceof InvalidReferenceError)
      throw new UsageError(`invalid image reference: ${err.code} (${err.reason})`);
    throw err;
  }
}
