/** Something `serve` started that must be stopped; the daemon runs its closers in order at stop. */
export type Closer = () => void | Promise<void>;

/** Runs every closer in order, each after the previous one settled. */
export async function closeAll(closers: readonly Closer[]): Promise<void> {
  for (const close of closers) await close();
}
