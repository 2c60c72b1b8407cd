// The unit lane (`npm run test:unit`, docs/adr/0063-test-lanes.md): in-process tests only, run as plain
// JavaScript precompiled by scripts/build-unit-tests.mjs (no tsx, no dist/), in worker threads, several
// test files to a worker (shards written by scripts/test-unit.mjs, scripts/unit-shards.mjs).
// scripts/test-lanes.mjs says which file is in which lane; ava.unit-process.config.js runs the unit files
// that need a process of their own.
import base from './ava.config.js';
import { COMPILED_UNIT_GLOBS } from './scripts/test-lanes.mjs';
import { SHARD_GLOB } from './scripts/unit-shards.mjs';

export default {
  ...base,
  files: [...COMPILED_UNIT_GLOBS.threads, SHARD_GLOB],
  extensions: ['js'],
  nodeArguments: [],
  workerThreads: true,
};
