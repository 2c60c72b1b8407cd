/**
 * Turns of the event loop handed out to background work a few at a time, so that what the loop is for
 * (forwarding CRI calls) is never queued behind a burst of it (docs/adr/0009, the storm addendum).
 *
 * `next()` resolves in a later turn, in the order asked, at most `perTurn` per turn; each turn polls the
 * loop's I/O first, so a passthrough frame that arrived meanwhile is forwarded before the next waiter runs.
 * Without it, a storm of registry answers each ran its continuation (parsing, hashing, the next request)
 * in the same turn as the I/O that woke it, and a CRI frame waited for all of them.
 *
 * Only delays: it never drops, reorders or fails a waiter, and an idle loop turns in microseconds. A
 * waiter whose caller gave up is still released in its turn (the caller's own signal decides what then).
 */
export class LoopTurns {
  private readonly waiting: Array<() => void> = [];
  private head = 0;
  private scheduled = false;

  constructor(readonly perTurn = 1) {
    if (!Number.isInteger(perTurn) || perTurn < 1) throw new RangeError('perTurn must be ≥ 1');
  }

  /** Waiters not yet released. */
  get pending(): number {
    return this.waiting.length - this.head;
  }

  /** Resolves in a later turn of the event loop (after its I/O was polled), FIFO, `perTurn` per turn. */
  next(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // An immediate asked from inside the check phase runs in the next turn, after that turn's poll.
    setImmediate(this.turn);
  }

  private readonly turn = (): void => {
    this.scheduled = false;
    for (let i = 0; i < this.perTurn && this.head < this.waiting.length; i++) {
      const resolve = this.waiting[this.head]!;
      this.head += 1;
      resolve();
    }
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
    } else {
      if (this.head > 1024) {
        this.waiting.splice(0, this.head);
        this.head = 0;
      }
      this.schedule();
    }
  };
}

/** The daemon's turns for registry work: one registry answer's continuation per turn of the loop. */
export const registryTurns = new LoopTurns(1);
