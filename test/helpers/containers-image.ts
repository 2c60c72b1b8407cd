/**
 * Builds test/interop/containers-image-verifier (containers/image's own sigstore payload parser, from
 * Debian's golang-github-containers-image-dev, with the signature check its VerifySigstorePayload makes)
 * into a temporary GOPATH with Debian's Go, offline. Returns a function that runs it.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const DEBIAN_SOURCE = '/usr/share/gocode/src/github.com/containers/image';
const PROGRAM = fileURLToPath(new URL('../interop/containers-image-verifier/main.go', import.meta.url));

/** The verdict of containers/image's check on one signature layer. */
export interface ContainersImageVerdict {
  readonly accepted: boolean;
  /** `ACCEPT`, or `REJECT: <containers/image's or Go's reason>`. */
  readonly output: string;
}

/** Runs containers/image's check on one signature layer; `sign` makes one as containers/image does. */
export interface ContainersImageVerifier {
  (
    publicKeyPem: string,
    payload: Uint8Array,
    base64Signature: string,
    dockerReference: string,
    digest: string,
  ): Promise<ContainersImageVerdict>;
  /** containers/image's payload for `digest` (creator, timestamp) and its ECDSA signature by a PKCS#8 key. */
  sign(
    keyFile: string,
    dockerReference: string,
    digest: string,
  ): Promise<{ payload: Buffer; signature: string }>;
}

/** Builds the verifier under `work`; throws when Debian's Go or containers/image source is missing. */
export async function buildContainersImageVerifier(work: string): Promise<ContainersImageVerifier> {
  if (!existsSync(join(DEBIAN_SOURCE, 'signature', 'internal', 'sigstore_payload.go'))) {
    throw new Error(`${DEBIAN_SOURCE}: install golang-github-containers-image-dev (scripts/setup.sh)`);
  }
  const gopath = mkdtempSync(join(tmpdir(), 'cg-gopath-'));
  const v5 = join(gopath, 'src', 'github.com', 'containers', 'image', 'v5');
  mkdirSync(join(v5, 'signature', 'verifier'), { recursive: true });
  symlinkSync(join(DEBIAN_SOURCE, 'signature', 'internal'), join(v5, 'signature', 'internal'));
  symlinkSync(join(DEBIAN_SOURCE, 'version'), join(v5, 'version'));
  copyFileSync(PROGRAM, join(v5, 'signature', 'verifier', 'main.go'));
  const binary = join(work, 'containers-image-verifier');
  await execFileAsync('go', ['build', '-o', binary, '.'], {
    cwd: join(v5, 'signature', 'verifier'),
    env: {
      ...process.env,
      GO111MODULE: 'off',
      GOPATH: `${gopath}:/usr/share/gocode`,
      GOCACHE: join(gopath, 'cache'),
      GOFLAGS: '',
      GOPROXY: 'off',
    },
  });
  let n = 0;
  const verify = async (
    publicKeyPem: string,
    payload: Uint8Array,
    base64Signature: string,
    dockerReference: string,
    digest: string,
  ): Promise<ContainersImageVerdict> => {
    const dir = join(work, `ci-${n++}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'key.pub'), publicKeyPem);
    writeFileSync(join(dir, 'payload'), payload);
    try {
      const { stdout } = await execFileAsync(binary, [
        join(dir, 'key.pub'),
        join(dir, 'payload'),
        base64Signature,
        dockerReference,
        digest,
      ]);
      return { accepted: stdout.trim() === 'ACCEPT', output: stdout.trim() };
    } catch (err) {
      const out = (err as { stdout?: string }).stdout ?? String(err);
      return { accepted: false, output: out.trim() };
    }
  };
  return Object.assign(verify, {
    async sign(keyFile: string, dockerReference: string, digest: string) {
      const { stdout } = await execFileAsync(binary, ['sign', keyFile, dockerReference, digest]);
      const [payload, signature] = stdout.trim().split('\n');
      return { payload: Buffer.from(payload ?? '', 'base64'), signature: signature ?? '' };
    },
  });
}
