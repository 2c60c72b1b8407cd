import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from '../../src/cli/command.js';
import { keygenCommand } from '../../src/cli/keygen.js';
import { policyCheckCommand } from '../../src/cli/policy-check.js';
import { runCli } from '../../src/cli/router.js';
import { signCommand } from '../../src/cli/sign.js';
import { verifyCommand } from '../../src/cli/verify.js';

const mine: readonly Command[] = [keygenCommand, signCommand, verifyCommand, policyCheckCommand];

/** Runs the CLI in-process with captured output. */
export async function cli(
  argv: string[],
  env: Record<string, string | undefined> = {},
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, mine, {
    stdout: (s) => void out.push(s),
    stderr: (s) => void err.push(s),
    env,
  });
  return { code, out: out.join(''), err: err.join('') };
}

/** A temporary directory removed after the test. */
export async function tempDir(t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'criguard-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Reads the verdict of `criguard verify --output json`. */
export function verdictOf(out: string): {
  decision: string;
  reason: string;
  missing: { attestor: string; reason: string }[];
  satisfied: { attestor: string; keyIds: string[] }[];
} {
  return (JSON.parse(out) as { verdict: ReturnType<typeof verdictOf> }).verdict;
}
