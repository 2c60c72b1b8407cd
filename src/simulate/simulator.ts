import type { PodFacts } from '../admission/admission.js';
import { createAdmission } from '../admission/controller.js';
import type { DecisionRecord } from '../admission/decision-record.js';
import type {
  Clock,
  DigestResolver,
  EvidenceSource,
  ImageLookup,
  PlatformResolver,
} from '../admission/ports.js';
import { revalidationFacts, type RunningContainer } from '../admission/revalidation.js';
import { VerdictCache } from '../cache/verdict-cache.js';
import type { CompiledPolicy } from '../policy/types.js';
import type { AuditSubject } from './audit-subjects.js';
import { entryOf, simulatedDecision, type SimulationEntry, type SimulationSubject } from './compare.js';

/** The daemon's evidence and look-up ports, as `serve` builds them (but never writing its state). */
export interface SimulationPorts {
  readonly resolver: DigestResolver;
  readonly evidence: readonly EvidenceSource[];
  readonly platforms?: PlatformResolver | undefined;
  readonly images: ImageLookup;
  readonly clock: Clock;
  readonly budgetMs: number;
}

/** The pod a replayed decision is made for: only its namespace matters to the policy. */
const SIMULATED_POD_NAME = 'criguard-simulate';

/**
 * Judges each subject twice with the daemon's own admission code (`createAdmission`), once under the
 * current policy and once under the candidate, and compares. Both see the same evidence: every port is
 * memoised for the run, so the registry is asked once per image and a flaky answer cannot masquerade as
 * a policy change. No breakglass is applied (re-validation semantics: what the policy alone says), each
 * policy has its own in-memory verdict cache, and nothing is written anywhere. Calls are sequential.
 */
export function createSimulator(
  ports: SimulationPorts,
  policies: { readonly current: CompiledPolicy; readonly candidate: CompiledPolicy },
) {
  const shared = memoisePorts(ports);
  const judge = (policy: CompiledPolicy) => {
    let last: DecisionRecord | undefined;
    const admission = createAdmission({
      policy: () => policy,
      resolver: shared.resolver,
      evidence: shared.evidence,
      platforms: shared.platforms,
      images: shared.images,
      cache: new VerdictCache({
        maxEntries: 4096,
        allowTtlMs: 3_600_000,
        denyTtlMs: 3_600_000,
        now: ports.clock,
      }),
      sink: { record: (r) => void (last = r) },
      clock: ports.clock,
      budgetMs: ports.budgetMs,
    });
    const take = (): DecisionRecord => {
      const record = last;
      last = undefined;
      if (record === undefined) throw new Error('admission wrote no record');
      return record;
    };
    return {
      async pull(image: string, namespace: string, signal: AbortSignal): Promise<DecisionRecord> {
        await admission.admitPull({ image, pod: pod(namespace), credentials: undefined }, signal);
        return take();
      },
      async container(c: RunningContainer, signal: AbortSignal): Promise<DecisionRecord> {
        await admission.revalidate(revalidationFacts(c), signal);
        return take();
      },
    };
  };
  const current = judge(policies.current);
  const candidate = judge(policies.candidate);

  const compare = (subject: SimulationSubject, a: DecisionRecord, b: DecisionRecord): SimulationEntry =>
    entryOf(subject, simulatedDecision(a), simulatedDecision(b));

  return {
    /** A running container, judged as re-validation judges it. */
    async running(c: RunningContainer, signal: AbortSignal): Promise<SimulationEntry> {
      const a = await current.container(c, signal);
      const b = await candidate.container(c, signal);
      return compare(
        {
          source: 'running',
          namespace: c.namespace,
          image: shownImage(a, c.image),
          container: { id: c.id, name: c.name, pod: c.podName, imageId: c.image },
        },
        a,
        b,
      );
    },

    /** A decision from the audit log, replayed (see AuditSubject). */
    async audit(s: AuditSubject, signal: AbortSignal): Promise<SimulationEntry> {
      let replayedAs: 'PullImage' | 'Revalidation' = 'PullImage';
      let a: DecisionRecord;
      let b: DecisionRecord;
      const { replay } = s;
      if (replay.kind === 'pull') {
        a = await current.pull(replay.image, s.namespace, signal);
        b = await candidate.pull(replay.image, s.namespace, signal);
      } else {
        const present = await shared.images.lookup(replay.imageId, signal).catch(() => undefined);
        if (present === undefined && replay.fallbackPull !== undefined) {
          a = await current.pull(replay.fallbackPull, s.namespace, signal);
          b = await candidate.pull(replay.fallbackPull, s.namespace, signal);
        } else {
          replayedAs = 'Revalidation';
          const c: RunningContainer = {
            id: '',
            name: '',
            image: replay.imageId,
            namespace: s.namespace,
            podName: SIMULATED_POD_NAME,
            podUid: '',
          };
          a = await current.container(c, signal);
          b = await candidate.container(c, signal);
        }
      }
      return compare(
        {
          source: 'audit',
          namespace: s.namespace,
          image: s.display,
          audit: {
            method: s.method,
            replayedAs,
            count: s.count,
            lastSeen: s.lastSeen,
            recordedOutcome: s.recordedOutcome,
            recordedReason: s.recordedReason,
          },
        },
        a,
        b,
      );
    },
  };
}

function pod(namespace: string): PodFacts {
  return { namespace, name: SIMULATED_POD_NAME, uid: '', labels: {}, annotations: {} };
}

/** `name@digest` of what was judged, when the record names it; else the image as given. */
function shownImage(record: DecisionRecord, fallback: string): string {
  const digest = record.digests.find((d) => d !== fallback) ?? record.digests[0];
  return record.imageName !== undefined && digest !== undefined ? `${record.imageName}@${digest}` : fallback;
}

/** Every port answers each question once per run (successes and failures alike). */
function memoisePorts(ports: SimulationPorts): Omit<SimulationPorts, 'clock' | 'budgetMs'> {
  const once = <T>(memo: Map<string, Promise<T>>, key: string, ask: () => Promise<T>): Promise<T> => {
    let answer = memo.get(key);
    if (answer === undefined) {
      answer = ask();
      memo.set(key, answer);
    }
    return answer;
  };
  const resolved = new Map<string, Promise<string>>();
  const looked = new Map<string, Promise<Awaited<ReturnType<ImageLookup['lookup']>>>>();
  const platforms = new Map<string, Promise<Awaited<ReturnType<PlatformResolver['platformManifest']>>>>();
  const platformResolver = ports.platforms;
  return {
    resolver: {
      resolve: (reference, credentials, signal) =>
        once(resolved, reference.canonical, () => ports.resolver.resolve(reference, credentials, signal)),
    },
    evidence: ports.evidence.map((source): EvidenceSource => {
      const fetched = new Map<string, ReturnType<EvidenceSource['fetch']>>();
      return {
        fetch: (image, credentials, signal) =>
          once(fetched, `${image.name}@${image.digest}`, () => source.fetch(image, credentials, signal)),
      };
    }),
    platforms:
      platformResolver === undefined
        ? undefined
        : {
            platformManifest: (image, credentials, signal) =>
              once(platforms, `${image.name}@${image.digest}`, () =>
                platformResolver.platformManifest(image, credentials, signal),
              ),
          },
    images: { lookup: (image, signal) => once(looked, image, () => ports.images.lookup(image, signal)) },
  };
}
