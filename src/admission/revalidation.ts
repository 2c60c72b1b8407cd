import type { AdmissionOutcome, CreateFacts } from './admission.js';
import type { QuarantineHit } from './decision-record.js';

/** A running container's re-validation: the outcome, and the quarantine hit when the list refuses it. */
export type RevalidationOutcome = AdmissionOutcome & { readonly quarantine?: QuarantineHit };

/** A running container whose image is quarantined (reported, never stopped). */
export interface QuarantinedContainer {
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  readonly podName: string;
  readonly image: string;
  /** The entry that matched (`sha256:…` or a pattern), or the problem code of an untrusted list. */
  readonly entry: string;
}

/** At most this many quarantined containers are listed in one result (all are counted). */
export const MAX_QUARANTINED_LISTED = 100;

/** A running container as containerd lists it, with the pod facts the kubelet put in its labels. */
export interface RunningContainer {
  readonly id: string;
  readonly name: string;
  /** The image id (config digest) containerd runs it from. */
  readonly image: string;
  readonly namespace: string;
  readonly podName: string;
  readonly podUid: string;
}

/**
 * What one sweep has judged: the containers that share an image (in one namespace, under one policy
 * revision) reuse one judgement, each still audited on its own. At most one entry per distinct image
 * running; a new sweep starts empty, so a policy, key or quarantine change is judged afresh.
 */
export class SweepJudgements {
  private readonly judged = new Map<string, Promise<unknown>>();

  /** `judge()`'s result for `key`, computed once per sweep. */
  once<T>(key: string, judge: () => Promise<T>): Promise<T> {
    let result = this.judged.get(key) as Promise<T> | undefined;
    if (result === undefined) {
      result = judge();
      this.judged.set(key, result);
    }
    return result;
  }
}

export interface ContainerLister {
  listRunning(signal: AbortSignal): Promise<RunningContainer[]>;
}

/** The facts re-validation judges a running container by: its image id, in its pod's namespace. */
export function revalidationFacts(c: RunningContainer): CreateFacts {
  return {
    image: c.image,
    userSpecifiedImage: '',
    volumeImages: [],
    containerName: c.name,
    podSandboxId: '',
    pod: { namespace: c.namespace, name: c.podName, uid: c.podUid, labels: {}, annotations: {} },
  };
}

export interface RevalidationResult {
  readonly checked: number;
  readonly violations: number;
  /** Running containers whose image an entry of the quarantine list covers (also counted in violations). */
  readonly quarantined: number;
  /** The first MAX_QUARANTINED_LISTED of them. */
  readonly quarantinedContainers: readonly QuarantinedContainer[];
}

/** Judges one running container's image under the current policy; `sweep` shares judgements within a run. */
export type Revalidate = (
  facts: CreateFacts,
  signal: AbortSignal,
  sweep: SweepJudgements,
) => Promise<RevalidationOutcome>;

/**
 * Continuous validation: every `intervalMs` (and once at start, which also warms the verdict cache),
 * re-evaluates the image of every running container under the current policy, keys and quarantine list.
 * Violations are audited (by `revalidate`) and reported, quarantined images on their own; nothing is
 * stopped. A failed run is reported through onError.
 */
export function startRevalidation(options: {
  readonly lister: ContainerLister;
  readonly revalidate: Revalidate;
  readonly intervalMs: number;
  readonly onResult: (result: RevalidationResult) => void;
  readonly onError: (err: Error) => void;
}): { runNow(): Promise<RevalidationResult>; stop(): void } {
  let running: Promise<RevalidationResult> | undefined;
  const controller = new AbortController();

  async function run(): Promise<RevalidationResult> {
    const containers = await options.lister.listRunning(controller.signal);
    let violations = 0;
    let quarantined = 0;
    const quarantinedContainers: QuarantinedContainer[] = [];
    const sweep = new SweepJudgements();
    for (const c of containers) {
      if (controller.signal.aborted) break;
      const outcome = await options.revalidate(revalidationFacts(c), controller.signal, sweep);
      if (!outcome.allowed) violations += 1;
      if (outcome.quarantine?.kind === 'entry') {
        quarantined += 1;
        if (quarantinedContainers.length < MAX_QUARANTINED_LISTED) {
          quarantinedContainers.push({
            id: c.id,
            name: c.name,
            namespace: c.namespace,
            podName: c.podName,
            image: c.image,
            entry: outcome.quarantine.entry,
          });
        }
      }
    }
    const result = { checked: containers.length, violations, quarantined, quarantinedContainers };
    options.onResult(result);
    return result;
  }

  let again: Promise<RevalidationResult> | undefined;
  function start(): Promise<RevalidationResult> {
    running ??= run().finally(() => {
      running = undefined;
    });
    return running;
  }

  /**
   * A sweep that starts now, or right after the one running (a change the running one may have judged
   * before, e.g. a quarantine entry, is seen in full); calls while one waits share it.
   */
  function runNow(): Promise<RevalidationResult> {
    if (running === undefined) return start();
    again ??= running
      .catch(() => undefined)
      .then(() => {
        again = undefined;
        return start();
      });
    return again;
  }

  // A periodic tick while a sweep runs joins it (a sweep longer than the interval does not pile up).
  const tick = () => void start().catch((err: unknown) => options.onError(err as Error));
  const first = setTimeout(tick, 0);
  const timer = options.intervalMs > 0 ? setInterval(tick, options.intervalMs) : undefined;
  timer?.unref();
  first.unref();
  return {
    runNow,
    stop() {
      clearTimeout(first);
      if (timer) clearInterval(timer);
      controller.abort();
    },
  };
}
