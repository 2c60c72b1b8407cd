// Reads ava's TAP output on stdin, echoes it, and ends with "N passed, N failed[, N skipped]".
// Exits 1 when a test failed, when ava reported a problem outside a test, or when no test ran.
import { createInterface } from 'node:readline';

let passed = 0;
let failed = 0;
let skipped = 0;
let bailed = false;
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  process.stdout.write(`${line}\n`);
  if (/^ok \d+/.test(line)) {
    if (/# (SKIP|TODO)/i.test(line)) skipped += 1;
    else passed += 1;
  } else if (/^not ok \d+/.test(line)) {
    if (/# TODO/i.test(line)) skipped += 1;
    else failed += 1;
  } else if (/^Bail out!/.test(line)) {
    bailed = true;
  }
}
const tail = skipped ? `, ${skipped} skipped` : '';
console.log(`\n${passed} passed, ${failed} failed${tail}`);
process.exit(failed > 0 || bailed || passed === 0 ? 1 : 0);
