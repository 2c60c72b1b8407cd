/**
 * Last-resort clean-up for test helpers: synchronous callbacks run when the process exits, including on
 * SIGINT/SIGTERM (ava's time-outs) and uncaught errors. Helpers register one per resource and remove it
 * when the resource is disposed normally.
 */
const hooks = new Set<() => void>();
let installed = false;

function runAll(): void {
  for (const hook of [...hooks].reverse()) {
    hooks.delete(hook);
    try {
      hook();
    } catch {
      // Best effort: keep cleaning the rest.
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      runAll();
      process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
    });
  }
}

/** Registers a synchronous clean-up to run at process exit; returns a function that unregisters it. */
export function onProcessExit(hook: () => void): () => void {
  install();
  hooks.add(hook);
  return () => {
    hooks.delete(hook);
  };
}
