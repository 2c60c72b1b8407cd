/**
 * V8 flags `criguard serve` sets on itself at start (`setFlagsFromString`), whatever NODE_OPTIONS says:
 * - `--max-semi-space-size=1`: a proxy's garbage is short-lived; a small young generation keeps the daemon's
 *   memory flat under load (RSS ~90 MiB instead of ~125 MiB at 6,000 calls/s) at no measurable CPU cost.
 * - `--heap-growing-percent=50`: the old generation may grow to 1.5× what was live after the last full GC
 *   before the next one, instead of up to 4× while GC is cheap. In a storm of 500 new digests the heap grew
 *   23 → 73 MB with 27 MB live, RSS +50 MiB; with this flag +20 MiB, at no CPU cost measurable on the shared
 *   machine (docs/adr/0009, the passthrough addendum). NODE_OPTIONS does not accept it, hence here.
 * V8 ignores a flag it does not know: test/daemon/v8-flags.test.ts checks the runtime knows each one.
 */
export const DAEMON_V8_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--heap-growing-percent=50'];
