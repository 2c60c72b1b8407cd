import { AdmissionError } from './errors.js';

/** Image verifications that run at once by default (`verifyConcurrency`). */
export const DEFAULT_MAX_VERIFYING = 8;
/**
 * Decisions that may wait for a verification slot; later ones are refused at once. Far more than a
 * kubelet asks for (it pulls one image at a time by default), bounded because the callers are outside
 * parties: a waiter holds a few kilobytes (its call and its closures), never registry data.
 */
export const MAX_WAITING_VERIFICATIONS = 1_000;

interface Waiter {
  readonly grant: () => void;
}

/**
 * The admission limit on image verifications (docs/adr/0009): at most `maxActive` run at once, later
 * ones wait in the order they asked (FIFO), at most `maxWaiting` wait. Without it a storm of distinct
 * new digests progresses together, each with a sliver of the registry connections and the CPU, and
 * none finishes within its budget; with it the first ones finish and the rest follow.
 */
export class VerificationSlots {
  private readonly queue = new Set<Waiter>();
  private running = 0;
  /** Decisions refused because `maxWaiting` were already waiting, since start. */
  refused = 0;

  constructor(
    readonly maxActive: number = DEFAULT_MAX_VERIFYING,
    readonly maxWaiting: number = MAX_WAITING_VERIFICATIONS,
  ) {
    if (!Number.isInteger(maxActive) || maxActive < 1) throw new RangeError('maxActive must be ≥ 1');
    if (!Number.isInteger(maxWaiting) || maxWaiting < 0) throw new RangeError('maxWaiting must be ≥ 0');
  }

  /** Verifications running now. */
  get active(): number {
    return this.running;
  }

  /** Decisions waiting for a slot now. */
  get waiting(): number {
    return this.queue.size;
  }

  /** Whether `acquire` would be granted at once (a slot free, nobody waiting). */
  get available(): boolean {
    return this.running < this.maxActive && this.queue.size === 0;
  }

  /**
   * Resolves with the slot's release (idempotent) once a slot is free, in the order asked. Rejects at once
   * with CG_ERR_VERIFY_BUSY, queueing nothing, when `maxWaiting` decisions already wait; with
   * `signal.reason` when `signal` aborts while waiting (the waiter leaves the queue, its turn passes to
   * the next).
   */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(reasonOf(signal));
    if (this.available) return Promise.resolve(this.take());
    if (this.queue.size >= this.maxWaiting) {
      this.refused += 1;
      return Promise.reject(this.busy());
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve(this.take());
        },
      };
      const onAbort = () => {
        this.queue.delete(waiter);
        reject(reasonOf(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.queue.add(waiter);
    });
  }

  /** The error of a decision refused for want of a slot (queue full, or its budget spent waiting). */
  busy(detail = ''): AdmissionError {
    return new AdmissionError(
      'CG_ERR_VERIFY_BUSY',
      `the node is verifying too many images (${this.running} verifying, ${this.queue.size} waiting)${detail}: retry later`,
    );
  }

  private take(): () => void {
    this.running += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running -= 1;
      const next = this.queue.values().next();
      if (!next.done && this.running < this.maxActive) {
        this.queue.delete(next.value);
        next.value.grant();
      }
    };
  }
}

function reasonOf(signal: AbortSignal): unknown {
  return signal.reason ?? new AdmissionError('CG_ERR_CANCELLED', 'the call was cancelled');
}
