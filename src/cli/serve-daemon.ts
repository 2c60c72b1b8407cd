import { hostname } from 'node:os';
import { admitEverything, type Admission } from '../admission/admission.js';
import { createAdmission } from '../admission/controller.js';
import type { EvidenceSource } from '../admission/ports.js';
import { createLocalDirectorySource } from '../attestations/local-directory-source.js';
import { createAuditLog } from '../audit/audit-log.js';
import { VerdictCache } from '../cache/verdict-cache.js';
import { createVerdictStore } from '../cache/verdict-store.js';
import type { ServeConfig } from '../config/serve-config.js';
import { createContainerdImageLookup } from '../cri/containerd-images.js';
import { createCreateContainerGate } from '../cri/gates/create-container.js';
import { createPullImageGate } from '../cri/gates/pull-image.js';
import { DEFAULT_LIMITS, startProxyServer } from '../cri/proxy-server.js';
import { createRouter } from '../cri/routes.js';
import { createLogger, type Logger } from '../log/logger.js';
import { createPolicyStore, type PolicyStore } from '../policy-files/policy-store.js';
import { ExitCode } from './exit-codes.js';
import { criguardVersion } from './version.js';

/**
 * Composition root of `criguard serve`: builds every component from the config, starts the proxy, and
 * runs until SIGTERM/SIGINT. SIGHUP reloads the policy; SIGUSR1 reopens the audit log.
 * Resolves to the exit code: 0 after a clean stop, 2 for an invalid policy at start, 1 otherwise.
 */
export async function runDaemon(config: ServeConfig): Promise<number> {
  const logger = createLogger(config.logLevel);
  const closers: Array<() => void> = [];
  let policyStore: PolicyStore | undefined;
  let admission: Admission = admitEverything;

  if (config.policy === undefined) {
    logger.warn({}, 'no policy configured: criguard forwards every call and enforces nothing');
  } else {
    try {
      policyStore = await createPolicyStore({
        policyPath: config.policy,
        attestorsDir: config.attestorsDir,
        cluster: config.cluster,
        pollMs: 1000,
        onReload: (r) =>
          r.error
            ? logger.error(
                { err: r.error.message, revision: r.revision },
                'policy reload failed; keeping the last good policy',
              )
            : r.changed && logger.info({ revision: r.revision }, 'policy reloaded'),
      });
    } catch (err) {
      logger.fatal({ err: (err as Error).message }, 'invalid policy: refusing to start');
      return ExitCode.INVALID_INPUT;
    }
    closers.push(() => policyStore?.close());
    const store = policyStore;
    const cache = new VerdictCache({
      maxEntries: config.cache.maxEntries,
      allowTtlMs: config.cache.allowTtlSeconds * 1000,
      denyTtlMs: config.cache.denyTtlSeconds * 1000,
      now: Date.now,
    });
    const verdictStore = createVerdictStore(config.stateDir);
    const loaded = verdictStore.load();
    if (loaded.problem)
      logger.warn({ file: verdictStore.path, problem: loaded.problem }, 'persisted verdicts discarded');
    logger.info({ verdicts: cache.restore(loaded.entries) }, 'verdict cache loaded');
    const persist = () => {
      try {
        verdictStore.save(cache.entries());
      } catch (err) {
        logger.error({ err: (err as Error).message }, 'cannot persist verdicts');
      }
    };
    const timer = setInterval(persist, 10_000);
    timer.unref();
    closers.push(() => {
      clearInterval(timer);
      persist();
    });
    const audit = createAuditLog({
      path: config.auditLog,
      node: config.nodeName ?? hostname(),
      onError: (err) => logger.error({ err: err.message, path: config.auditLog }, 'audit log write failed'),
    });
    closers.push(() => audit.close());
    process.on('SIGUSR1', () => audit.reopen());
    const images = createContainerdImageLookup(config.upstream);
    closers.push(() => images.close());
    admission = createAdmission({
      policy: () => store.current(),
      resolver: {
        resolve: () =>
          Promise.reject(
            Object.assign(new Error('no registry client configured'), {
              code: 'CG_ERR_REGISTRY_UNAVAILABLE',
            }),
          ),
      },
      evidence: createEvidence(config, logger),
      images,
      cache,
      sink: audit,
      clock: Date.now,
      budgetMs: config.verifyTimeoutSeconds * 1000,
    });
    process.on('SIGHUP', () => void store.reload());
    logger.info({ policy: config.policy, revision: store.current().revision }, 'policy loaded');
  }

  const route = createRouter({
    pullImage: createPullImageGate(admission),
    createContainer: createCreateContainerGate(admission),
  });
  let server;
  try {
    server = await startProxyServer({
      listenPath: config.listen,
      upstreamPath: config.upstream,
      socketMode: config.socketMode,
      route,
      logger,
      limits: DEFAULT_LIMITS,
    });
  } catch (err) {
    logger.error({ err: (err as Error).message, code: (err as { code?: string }).code }, 'cannot start');
    for (const close of closers) close();
    return ExitCode.DENIED_OR_FAILED;
  }
  logger.info(
    { version: criguardVersion, listen: config.listen, upstream: config.upstream, pid: process.pid },
    'criguard started',
  );
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info({ signal, connections: server.connections }, 'stopping');
  const cut = await server.stop(config.shutdownTimeoutSeconds * 1000);
  for (const close of closers) close();
  logger.info({ connectionsCut: cut }, 'criguard stopped');
  return ExitCode.OK;
}

function createEvidence(config: ServeConfig, logger: Logger): EvidenceSource {
  const local =
    config.attestationsDir === undefined
      ? undefined
      : createLocalDirectorySource({
          dir: config.attestationsDir,
          onSkipped: (path, code) => logger.warn({ path, code }, 'attestation file skipped'),
        });
  return {
    async fetch(image, _credentials, signal) {
      return local ? local.fetch(image.name, image.digest, signal) : [];
    },
  };
}
