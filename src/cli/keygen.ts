import { generateKeyPairSync } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { basename } from 'node:path';
import { defaultKeyId } from '../verify/public-key.js';
import type { Command } from './command.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { parseOptions, requireOption } from './parse-options.js';

const ALGORITHMS = { 'ecdsa-p256': 'ECDSA_P256_SHA256', ed25519: 'ED25519' } as const;

/** `criguard keygen`: writes PREFIX.key (PKCS#8, 0600) and PREFIX.pub (SPKI), never overwriting. */
export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'create a signing key pair and print an attestor snippet',
  usage: [
    'Usage: criguard keygen --out PREFIX [--algorithm ecdsa-p256|ed25519] [--attestor NAME]',
    '',
    'Writes PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (SPKI PEM). Refuses to overwrite.',
    'Prints an attestor definition for the policy (attestors: list or an attestor file).',
  ].join('\n'),
  async run(args, io) {
    const { values } = parseOptions(
      args,
      { out: { type: 'string' }, algorithm: { type: 'string' }, attestor: { type: 'string' } },
      false,
    );
    const prefix = requireOption(values.out, 'out');
    const choice = values.algorithm ?? 'ecdsa-p256';
    if (!Object.hasOwn(ALGORITHMS, choice)) throw new UsageError('--algorithm must be ecdsa-p256 or ed25519');
    const algorithm = ALGORITHMS[choice as keyof typeof ALGORITHMS];
    const pair =
      algorithm === 'ED25519'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const privatePem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const publicPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const keyPath = `${prefix}.key`;
    const pubPath = `${prefix}.pub`;
    const written: string[] = [];
    try {
      await writeNew(keyPath, privatePem, 0o600);
      written.push(keyPath);
      await writeNew(pubPath, publicPem, 0o644);
    } catch (err) {
      for (const path of written) await unlink(path).catch(() => undefined);
      const code = (err as NodeJS.ErrnoException).code;
      io.stderr(
        `criguard keygen: ${code === 'EEXIST' ? 'refusing to overwrite an existing file' : String(err)}\n`,
      );
      return ExitCode.DENIED_OR_FAILED;
    }
    const id = defaultKeyId(pair.publicKey);
    const name = values.attestor ?? (basename(prefix).replace(/[^A-Za-z0-9_-]/g, '-') || 'attestor');
    io.stderr(`wrote ${keyPath} (private, 0600) and ${pubPath}\n`);
    io.stdout(
      [
        `- name: ${name}`,
        '  userOwnedGrafeasNote:',
        '    publicKeys:',
        `      - id: "${id}"`,
        '        pkixPublicKey:',
        `          signatureAlgorithm: ${algorithm}`,
        '          publicKeyPem: |',
        ...publicPem
          .trimEnd()
          .split('\n')
          .map((l) => `            ${l}`),
        '',
      ].join('\n'),
    );
    return ExitCode.OK;
  },
};

async function writeNew(path: string, text: string, mode: number): Promise<void> {
  const handle = await open(path, 'wx', mode);
  try {
    await handle.writeFile(text);
    await handle.chmod(mode);
  } finally {
    await handle.close();
  }
}
