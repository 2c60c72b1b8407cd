/** Keys, attestations and policies for end-to-end tests, made with criguard's own CLI (the bundle). */
import { execFile } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { criguardCommand } from './criguard.js';

const execFileAsync = promisify(execFile);

/** Runs `criguard ARGS`; resolves to the exit code and output (never rejects for a non-zero exit). */
export async function criguardCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { command, prefix } = criguardCommand();
  try {
    const { stdout, stderr } = await execFileAsync(command, [...prefix, ...args], { encoding: 'utf8' });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export interface SigningKey {
  readonly keyFile: string;
  readonly publicPem: string;
  readonly id: string;
}

/** `criguard keygen` into `dir`. */
export async function keygen(dir: string, name: string): Promise<SigningKey> {
  const prefix = join(dir, name);
  const result = await criguardCli(['keygen', '--out', prefix]);
  if (result.code !== 0) throw new Error(`keygen failed: ${result.stderr}`);
  return { keyFile: `${prefix}.key`, publicPem: readFileSync(`${prefix}.pub`, 'utf8'), id: name };
}

/** `criguard sign` an image digest into an attestation directory. */
export async function sign(key: SigningKey, attestationsDir: string, imageDigestRef: string): Promise<void> {
  const result = await criguardCli([
    'sign',
    '--key',
    key.keyFile,
    '--key-id',
    key.id,
    '--attestations-dir',
    attestationsDir,
    imageDigestRef,
  ]);
  if (result.code !== 0) throw new Error(`sign failed: ${result.stderr}`);
}

/** A Binary Authorization attestor document for keys. */
export function attestor(name: string, keys: readonly SigningKey[]): object {
  return {
    name,
    userOwnedGrafeasNote: {
      publicKeys: keys.map((k) => ({
        id: k.id,
        pkixPublicKey: { publicKeyPem: k.publicPem, signatureAlgorithm: 'ECDSA_P256_SHA256' },
      })),
    },
  };
}

/** Writes a policy document (JSON is YAML) atomically enough for the daemon's reload. */
export function writePolicy(path: string, doc: object): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(doc, null, 2));
  renameSync(`${path}.tmp`, path); // the daemon sees the complete new file or the old one
}

export function readAudit(path: string): Array<Record<string, unknown>> {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  } catch {
    return [];
  }
}
