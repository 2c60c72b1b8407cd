#!/usr/bin/env node
import { commands } from './cli/commands.js';
import { runCli } from './cli/router.js';

/** Composition root of the `criguard` executable. */
void runCli(process.argv.slice(2), commands, {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  env: process.env,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`criguard: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
