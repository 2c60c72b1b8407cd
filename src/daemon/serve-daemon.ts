import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { admitEverything, type Admission } from '../admission/admission.js';
import { createAdmission } from '../admission/controller.js';
import { VerificationSlots } from '../admission/verification-slots.js';
import { diskCacheWritesSettled } from '../attestations/disk-cache-source.js';
import { createAuditLog } from '../audit/audit-log.js';
import type { BreakglassMonitor } from '../breakglass/monitor.js';
import { VerdictCache } from '../cache/verdict-cache.js';
import type { ServeConfig } from '../config/serve-config.js';
import { createContainerdClient } from '../cri/containerd-client.js';
import { createCreateContainerGate } from '../cri/gates/create-container.js';
import { createPullImageGate } from '../cri/gates/pull-image.js';
import { takeSystemdSocket, type InheritedSocket } from '../cri/listen-socket.js';
import { startProxyServer } from '../cri/proxy-server.js';
import { createRouter } from '../cri/routes.js';
import { preparePrivateDirectory } from '../files/private-directory.js';
import { createLogger } from '../log/logger.js';
import { startHttpEndpoint } from '../metrics/http-endpoint.js';
import { createMetrics } from '../metrics/metrics.js';
import type { PolicyStore } from '../policy-files/policy-store.js';
import type { CompiledPolicy } from '../policy/types.js';
import type { QuarantineMonitor } from '../quarantine/monitor.js';
import { criguardVersion } from '../version.js';
import { closeAll, type Closer } from './closers.js';
import { createEvidence } from './evidence-sources.js';
import { healthChecks } from './health-checks.js';
import type { DaemonOutcome } from './outcome.js';
import { persistVerdicts } from './persist-verdicts.js';
import { proxyLimits } from './proxy-limits.js';
import { refreshSandboxImage } from './refresh-sandbox-image.js';
import {
  createNodeCredentialsFromConfig,
  createRegistry,
  manifestResolver,
  platformResolver,
} from './registry-access.js';
import { reportRunningContainers } from './report-running-containers.js';
import { createServiceNotifier } from './service-notify.js';
import { watchBreakglass } from './watch-breakglass.js';
import { logPolicyWarnings, watchPolicy } from './watch-policy.js';
import { watchQuarantine } from './watch-quarantine.js';
import { DAEMON_V8_FLAGS } from './v8-flags.js';

/**
 * Composition root of `criguard serve`: builds every component from the config, starts the proxy and the
 * metrics endpoint, and runs until SIGTERM/SIGINT. SIGHUP reloads the policy; SIGUSR1 reopens the audit
 * log. Resolves to how it ended (the CLI maps that to an exit code); never rejects for a start-up failure.
 * Closers are run in order at stop (and after a failed start).
 */
export async function runDaemon(config: ServeConfig): Promise<DaemonOutcome> {
  for (const flag of DAEMON_V8_FLAGS) setFlagsFromString(flag);
  const logger = createLogger(config.logLevel);
  // Read (and cleared from the environment) first, so no child process ever inherits them.
  const notify = createServiceNotifier(process.env, (message) =>
    logger.error({ err: message }, 'cannot report readiness to systemd'),
  );
  let inheritedSocket: InheritedSocket | undefined;
  try {
    inheritedSocket = takeSystemdSocket(process.env, process.pid);
  } catch (err) {
    logger.error({ err: (err as Error).message, code: (err as { code?: string }).code }, 'cannot start');
    return { kind: 'failed', stage: 'socket-activation' };
  }
  const closers: Closer[] = [];
  const containerd = createContainerdClient(config.upstream);
  closers.push(() => containerd.close());
  const cache = new VerdictCache({
    maxEntries: config.cache.maxEntries,
    allowTtlMs: config.cache.allowTtlSeconds * 1000,
    denyTtlMs: config.cache.denyTtlSeconds * 1000,
    now: Date.now,
  });
  const verificationSlots = new VerificationSlots(config.verifyConcurrency);
  let connections = () => 0;
  let breakglass: BreakglassMonitor | undefined;
  let quarantine: QuarantineMonitor | undefined;
  const metrics = createMetrics({
    cacheEntries: () => cache.size,
    cacheHits: () => cache.hits,
    cacheMisses: () => cache.misses,
    verifications: () => cache.verifications,
    verificationSlots: () => ({
      active: verificationSlots.active,
      waiting: verificationSlots.waiting,
      refused: verificationSlots.refused,
    }),
    connections: () => connections(),
    breakglass: () => {
      const state = breakglass?.status(Date.now()).state ?? 'absent';
      return { active: state === 'active', invalid: state === 'invalid' || state === 'expired' };
    },
    quarantine: () => {
      const status = quarantine?.status(Date.now());
      return { entries: status?.inForce ?? 0, invalid: status?.state === 'invalid' };
    },
  });

  // Without a policy criguard is a plain proxy; with one, everything admission needs is built here.
  let policyStore: PolicyStore | undefined;
  let policyInForce: (() => CompiledPolicy) | undefined;
  let admission: Admission = admitEverything;
  if (config.policy === undefined) {
    logger.warn({}, 'no policy configured: criguard forwards every call and enforces nothing');
  } else {
    policyStore = await watchPolicy(config, config.policy, logger, metrics);
    if (policyStore === undefined) return { kind: 'invalid-policy' };
    const store = policyStore;
    closers.push(() => store.close());
    const sandbox = refreshSandboxImage(containerd, store, logger);
    policyInForce = () => sandbox.policy();
    closers.push(() => sandbox.stop());
    const stateProblem = preparePrivateDirectory(config.stateDir, process.geteuid?.() ?? 0);
    if (stateProblem !== undefined) {
      metrics.stateRejected('stateDir');
      logger.error(
        { problem: stateProblem },
        'state directory unsafe: persisted state ignored and not written',
      );
    }
    closers.push(persistVerdicts(config, cache, logger, () => metrics.stateRejected('verdicts')));
    const audit = createAuditLog({
      path: config.auditLog,
      node: config.nodeName ?? hostname(),
      onError: (err) => {
        metrics.auditFailed();
        logger.error({ err: err.message, path: config.auditLog }, 'audit log write failed');
      },
    });
    closers.push(() => audit.close());
    process.on('SIGUSR1', () => audit.reopen());
    breakglass = watchBreakglass(config, logger, audit);
    const monitor = breakglass;
    closers.push(() => monitor.close());
    // Re-validation starts below; a quarantine change asks it to report running containers at once.
    let revalidateNow = () => {};
    quarantine = watchQuarantine(config, logger, audit, () => revalidateNow());
    const quarantineMonitor = quarantine;
    closers.push(() => quarantineMonitor.close());
    closers.push(() => diskCacheWritesSettled()); // signature copies still being written
    const nodeCredentials = createNodeCredentialsFromConfig(config, logger);
    const registry = createRegistry(config, logger, nodeCredentials);
    closers.push(() => registry.close());
    const stateSafe = stateProblem === undefined;
    const control = createAdmission({
      policy: () => sandbox.policy(),
      resolver: manifestResolver(registry, nodeCredentials),
      evidence: createEvidence(config, registry, logger, nodeCredentials, stateSafe ? 'read-write' : 'off'),
      platforms: platformResolver(config, registry, stateSafe),
      images: containerd,
      cache,
      sink: {
        record: (r) => {
          audit.record(r);
          metrics.observe(r);
        },
      },
      clock: Date.now,
      budgetMs: config.verifyTimeoutSeconds * 1000,
      verificationSlots,
      breakglass: monitor,
      quarantine: quarantineMonitor,
      podBreakglassLabel: config.podBreakglassLabel,
    });
    admission = control;
    process.on('SIGHUP', () => void store.reload());
    logger.info({ policy: config.policy, revision: store.current().revision }, 'policy loaded');
    logPolicyWarnings(logger, store.current().warnings);
    const revalidation = reportRunningContainers({
      lister: containerd,
      revalidate: (facts, signal, sweep) => control.revalidate(facts, signal, sweep),
      intervalSeconds: config.revalidateIntervalSeconds,
      logger,
      metrics,
    });
    closers.unshift(() => revalidation.stop());
    revalidateNow = () => revalidation.runNow();
  }

  let server;
  try {
    server = await startProxyServer({
      listenPath: config.listen,
      upstreamPath: config.upstream,
      socketMode: config.socketMode,
      inheritedSocket,
      route: createRouter({
        pullImage: createPullImageGate(admission),
        createContainer: createCreateContainerGate(admission),
      }),
      logger,
      limits: proxyLimits(config),
      onUpstreamUnavailable: () => metrics.upstreamUnavailable(),
    });
  } catch (err) {
    logger.error({ err: (err as Error).message, code: (err as { code?: string }).code }, 'cannot start');
    await closeAll(closers);
    return { kind: 'failed', stage: 'proxy' };
  }
  const proxy = server;
  connections = () => proxy.connections;

  let http: Server | undefined;
  if (config.metricsAddress !== 'off') {
    try {
      http = await startHttpEndpoint(
        config.metricsAddress,
        metrics.registry,
        healthChecks({
          config,
          containerd,
          policyStore,
          policyInForce,
          cache,
          proxy,
          breakglass,
          quarantine,
        }),
      );
    } catch (err) {
      logger.error({ err: (err as Error).message, address: config.metricsAddress }, 'cannot serve metrics');
      await proxy.stop(0);
      await closeAll(closers);
      return { kind: 'failed', stage: 'metrics' };
    }
  }

  logger.info(
    {
      version: criguardVersion,
      listen: config.listen,
      socket: inheritedSocket ? 'from systemd' : 'created',
      upstream: config.upstream,
      metrics: config.metricsAddress,
      pid: process.pid,
    },
    'criguard started',
  );
  void notify({ ready: true, status: `serving ${config.listen}` });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info({ signal, connections: proxy.connections }, 'stopping');
  const cut = await proxy.stop(config.shutdownTimeoutSeconds * 1000);
  http?.close();
  http?.closeAllConnections();
  await closeAll(closers);
  logger.info({ connectionsCut: cut }, 'criguard stopped');
  return { kind: 'stopped', signal };
}
