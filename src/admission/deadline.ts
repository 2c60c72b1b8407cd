import { AdmissionError } from './errors.js';

/**
 * Deadlines of a decision: every piece of outside work (registry, containerd, verification) runs under a
 * time budget and gives up when the client goes away. Both turn into coded errors that `undecided.ts`
 * settles.
 */

/**
 * Runs `work` with an AbortSignal that fires after `ms`; a timeout rejects with CG_ERR_TIMEOUT, or with
 * what `onTimeout` returns (a more precise account of where the budget went).
 */
export async function withBudget<T>(
  ms: number,
  work: (signal: AbortSignal) => Promise<T>,
  onTimeout?: () => Error | undefined,
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(onTimeout?.() ?? new AdmissionError('CG_ERR_TIMEOUT', `no answer within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([work(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Rejects with CG_ERR_CANCELLED when `signal` aborts first (the client went away). */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(cancelled());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** `work` under a fresh budget of `ms`, abandoned when `signal` (the caller's call) aborts. */
export function budgeted<T>(ms: number, signal: AbortSignal, work: (budget: AbortSignal) => Promise<T>) {
  return withBudget(ms, (budget) => raceAbort(work(budget), signal));
}

/** The error of a call whose client went away. */
export function cancelled(): Error {
  return new AdmissionError('CG_ERR_CANCELLED', 'the call was cancelled');
}
