/** Debian's GnuPG for tests: a throw-away keyring, keys and signatures made as Google's attestation docs show. */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface Gpg {
  readonly home: string;
  /** Runs gpg in batch mode with this keyring; resolves to stdout as bytes. */
  run(args: string[], options?: { fakedTime?: string }): Promise<Buffer>;
  /** `gpg --quick-generate-key --yes EMAIL [ALGO USAGE EXPIRE]`; resolves to the primary fingerprint. */
  generate(
    email: string,
    algo?: string,
    usage?: string,
    expire?: string,
    fakedTime?: string,
  ): Promise<string>;
  /** `gpg --armor --export EMAIL`. */
  exportPublic(who: string): Promise<string>;
  /**
   * `gpg --local-user WHO [--armor] --sign` (or `--detach-sign`, or `--clearsign`) over `payload`; the
   * signature bytes.
   */
  sign(
    who: string,
    payload: Uint8Array,
    options?: { armor?: boolean; detach?: boolean; clearsign?: boolean; fakedTime?: string },
  ): Promise<Buffer>;
  /** Fingerprints of `who`'s primary key and subkeys (colon listing). */
  fingerprints(who: string): Promise<string[]>;
  dispose(): void;
}

export function createGpg(): Gpg {
  const home = mkdtempSync(join(tmpdir(), 'cg-gnupg-'));
  let n = 0;
  // One gpg at a time per keyring: concurrent runs (ava runs a file's tests concurrently) race on it.
  let queue: Promise<unknown> = Promise.resolve();
  const run = (args: string[], options: { fakedTime?: string } = {}): Promise<Buffer> => {
    const next = queue.then(() => runNow(args, options));
    queue = next.catch(() => undefined);
    return next;
  };
  const runNow = async (args: string[], options: { fakedTime?: string }): Promise<Buffer> => {
    const { stdout } = await execFileAsync(
      'gpg',
      [
        '--homedir',
        home,
        '--batch',
        '--yes',
        '--pinentry-mode',
        'loopback',
        '--passphrase',
        '',
        ...(options.fakedTime ? ['--faked-system-time', options.fakedTime, '--ignore-time-conflict'] : []),
        ...args,
      ],
      { encoding: 'buffer', maxBuffer: 1 << 20 },
    );
    return stdout;
  };
  const fingerprints = async (who: string): Promise<string[]> => {
    const out = (await run(['--with-colons', '--fingerprint', '--list-keys', who])).toString();
    return out
      .split('\n')
      .filter((l) => l.startsWith('fpr:'))
      .map((l) => l.split(':')[9]!);
  };
  return {
    home,
    run,
    fingerprints,
    async generate(email, algo, usage, expire, fakedTime) {
      await run(
        ['--quick-generate-key', email, ...(algo ? [algo, usage ?? 'default', expire ?? '0'] : [])],
        fakedTime ? { fakedTime } : {},
      );
      return (await fingerprints(email))[0]!;
    },
    async exportPublic(who) {
      return (await run(['--armor', '--export', who])).toString();
    },
    async sign(who, payload, options = {}) {
      const file = join(home, `payload-${n++}.json`);
      writeFileSync(file, payload);
      const out = `${file}.sig`;
      await run(
        [
          '--local-user',
          who,
          ...(options.armor === false ? [] : ['--armor']),
          '--output',
          out,
          options.clearsign ? '--clearsign' : options.detach ? '--detach-sign' : '--sign',
          file,
        ],
        options.fakedTime ? { fakedTime: options.fakedTime } : {},
      );
      return readFileSync(out);
    },
    dispose() {
      // gpg started an agent for this keyring: stop it, then remove the keyring.
      try {
        execFileSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { stdio: 'ignore' });
      } catch {
        // no agent running
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** The payload `gcloud container binauthz create-signature-payload --artifact-url=NAME@DIGEST` prints. */
export function gcloudPayload(name: string, digest: string): Buffer {
  const doc = {
    critical: {
      identity: { 'docker-reference': name },
      image: { 'docker-manifest-digest': digest },
      type: 'Google cloud binauthz container signature',
    },
  };
  return Buffer.from(`${JSON.stringify(doc, null, 2)}\n`);
}
