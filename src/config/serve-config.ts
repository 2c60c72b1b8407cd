import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { LOG_LEVELS, type LogLevel } from '../log/logger.js';
import { configError, toSocketPath } from './socket-address.js';

/** The settings of `criguard serve`, after defaults, the config file and flags were merged. */
export interface ServeConfig {
  readonly listen: string;
  readonly upstream: string;
  readonly socketMode: number;
  readonly logLevel: LogLevel;
  readonly shutdownTimeoutSeconds: number;
  /** Policy file; undefined runs the proxy without enforcement (logged loudly at start). */
  readonly policy: string | undefined;
  /** Directory of attestor files, besides the policy's inline `attestors:`. */
  readonly attestorsDir: string | undefined;
  /** Offline attestations: `<dir>/sha256-<hex>/*.json`. */
  readonly attestationsDir: string | undefined;
  /** This node's cluster key (`location.clusterId`) for `clusterAdmissionRules`. */
  readonly cluster: string | undefined;
  /** Persisted verdicts and attestations (root-only). */
  readonly stateDir: string;
  /** Audit log path, or "-" for stdout. */
  readonly auditLog: string;
  /** Time budget for resolving and verifying one image. */
  readonly verifyTimeoutSeconds: number;
  readonly cache: {
    readonly maxEntries: number;
    readonly allowTtlSeconds: number;
    readonly denyTtlSeconds: number;
  };
  /** Node name recorded in audit records (default: the host name). */
  readonly nodeName: string | undefined;
  /** `host:port` of /metrics, /healthz, /readyz and /status; "off" disables it. */
  readonly metricsAddress: string;
  /** Seconds between re-validations of running containers; 0 disables (one run still warms the cache). */
  readonly revalidateIntervalSeconds: number;
  /** Per-registry settings by host (`host[:port]`): plain HTTP, hosts of token services trusted with credentials. */
  readonly registries: Readonly<
    Record<string, { readonly plainHttp?: boolean; readonly credentialRealmHosts?: readonly string[] }>
  >;
  /** Extra CA certificate files (PEM) trusted for registries. */
  readonly registryCaFiles: readonly string[];
  /** containerd's registry host configuration (`config_path`): mirrors and endpoints, as containerd uses them. */
  readonly registryHostsDir: string;
  /** The breakglass file (docs/breakglass.md). */
  readonly breakglassFile: string;
  /** The longest breakglass honoured, from now. */
  readonly breakglassMaxWindowHours: number;
  /** Honour the pod label image-policy.k8s.io/break-glass: "true" (anyone who can create pods can set it). */
  readonly podBreakglassLabel: boolean;
  /** The node's registry credentials, used where the kubelet sends none (docs/configuration.md). */
  readonly nodeCredentials: {
    /** The kubelet's `--image-credential-provider-config` file. */
    readonly credentialProviderConfig: string | undefined;
    /** The kubelet's `--image-credential-provider-bin-dir`. */
    readonly credentialProviderBinDir: string | undefined;
    /** Docker config.json files, in order; the first found is read. */
    readonly dockerConfigFiles: readonly string[];
  };
}

export const DEFAULT_SERVE_CONFIG: ServeConfig = Object.freeze({
  listen: '/run/criguard/criguard.sock',
  upstream: '/run/containerd/containerd.sock',
  socketMode: 0o660,
  logLevel: 'info',
  shutdownTimeoutSeconds: 10,
  policy: undefined,
  attestorsDir: undefined,
  attestationsDir: undefined,
  cluster: undefined,
  stateDir: '/var/lib/criguard',
  auditLog: '/var/log/criguard/audit.log',
  verifyTimeoutSeconds: 30,
  cache: Object.freeze({ maxEntries: 10_000, allowTtlSeconds: 24 * 3600, denyTtlSeconds: 60 }),
  nodeName: undefined,
  metricsAddress: '127.0.0.1:9798',
  revalidateIntervalSeconds: 300,
  registries: Object.freeze({}),
  registryCaFiles: Object.freeze([]),
  registryHostsDir: '/etc/containerd/certs.d',
  breakglassFile: '/etc/criguard/breakglass.yaml',
  breakglassMaxWindowHours: 24,
  podBreakglassLabel: false,
  nodeCredentials: Object.freeze({
    credentialProviderConfig: undefined,
    credentialProviderBinDir: undefined,
    dockerConfigFiles: Object.freeze([
      '/var/lib/kubelet/config.json',
      '/root/.docker/config.json',
      '/.docker/config.json',
    ]),
  }),
});

const octalMode = z.union([
  z.string().regex(/^0?[0-7]{3}$/, 'must be an octal mode such as "0660"'),
  z.number().int().min(0).max(0o777),
]);

/** The config file's schema: camelCase keys, unknown keys rejected. Every key is optional. */
const fileSchema = z.strictObject({
  listen: z.string().min(1).optional(),
  upstream: z.string().min(1).optional(),
  socketMode: octalMode.optional(),
  logLevel: z.enum(LOG_LEVELS).optional(),
  shutdownTimeoutSeconds: z.number().positive().max(600).optional(),
  policy: z.string().min(1).optional(),
  attestorsDir: z.string().min(1).optional(),
  attestationsDir: z.string().min(1).optional(),
  cluster: z.string().min(1).optional(),
  stateDir: z.string().min(1).optional(),
  auditLog: z.string().min(1).optional(),
  verifyTimeoutSeconds: z.number().positive().max(600).optional(),
  cache: z
    .strictObject({
      maxEntries: z.number().int().positive().max(1_000_000).optional(),
      allowTtlSeconds: z
        .number()
        .min(0)
        .max(30 * 24 * 3600)
        .optional(),
      denyTtlSeconds: z
        .number()
        .min(0)
        .max(24 * 3600)
        .optional(),
    })
    .optional(),
  nodeName: z.string().min(1).optional(),
  metricsAddress: z
    .string()
    .regex(/^(off|(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5})$/, 'must be host:port or "off"')
    .optional(),
  revalidateIntervalSeconds: z
    .number()
    .min(0)
    .max(7 * 24 * 3600)
    .optional(),
  registries: z
    .record(
      z
        .string()
        .regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$/, 'must be host or host:port'),
      z.strictObject({
        plainHttp: z.boolean().optional(),
        credentialRealmHosts: z.array(z.string().min(1)).max(16).optional(),
      }),
    )
    .optional(),
  registryCaFiles: z.array(z.string().min(1)).max(32).optional(),
  registryHostsDir: z.string().min(1).optional(),
  breakglassFile: z.string().min(1).optional(),
  breakglassMaxWindowHours: z
    .number()
    .positive()
    .max(24 * 7)
    .optional(),
  podBreakglassLabel: z.boolean().optional(),
  nodeCredentials: z
    .strictObject({
      credentialProviderConfig: z.string().min(1).optional(),
      credentialProviderBinDir: z.string().min(1).optional(),
      dockerConfigFiles: z.array(z.string().min(1)).max(16).optional(),
    })
    .refine(
      (n) => (n.credentialProviderConfig === undefined) === (n.credentialProviderBinDir === undefined),
      'credentialProviderConfig and credentialProviderBinDir go together',
    )
    .optional(),
});

export type ServeConfigInput = z.input<typeof fileSchema>;

/**
 * Merges defaults ← config file (YAML or JSON) ← flags, validates, and normalises socket addresses to
 * absolute paths. Throws CG_ERR_CONFIG with every problem, each with its field path, in one message.
 */
export function loadServeConfig(options: {
  readonly file: string | undefined;
  readonly flags: ServeConfigInput;
  readonly cwd: string;
}): ServeConfig {
  const fromFile = options.file === undefined ? {} : parseFile(options.file);
  const merged = { ...fromFile, ...stripUndefined(options.flags) };
  const result = fileSchema.safeParse(merged);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw configError(
      `invalid configuration${options.file ? ` (${options.file})` : ''}:\n${lines.join('\n')}`,
    );
  }
  const c = result.data;
  const mode = c.socketMode ?? DEFAULT_SERVE_CONFIG.socketMode;
  return Object.freeze({
    listen: toSocketPath(c.listen ?? DEFAULT_SERVE_CONFIG.listen, options.cwd),
    upstream: toSocketPath(c.upstream ?? DEFAULT_SERVE_CONFIG.upstream, options.cwd),
    socketMode: typeof mode === 'string' ? parseInt(mode, 8) : mode,
    logLevel: c.logLevel ?? DEFAULT_SERVE_CONFIG.logLevel,
    shutdownTimeoutSeconds: c.shutdownTimeoutSeconds ?? DEFAULT_SERVE_CONFIG.shutdownTimeoutSeconds,
    policy: c.policy === undefined ? undefined : resolve(options.cwd, c.policy),
    attestorsDir: c.attestorsDir === undefined ? undefined : resolve(options.cwd, c.attestorsDir),
    attestationsDir: c.attestationsDir === undefined ? undefined : resolve(options.cwd, c.attestationsDir),
    cluster: c.cluster,
    stateDir: resolve(options.cwd, c.stateDir ?? DEFAULT_SERVE_CONFIG.stateDir),
    auditLog: c.auditLog === '-' ? '-' : resolve(options.cwd, c.auditLog ?? DEFAULT_SERVE_CONFIG.auditLog),
    verifyTimeoutSeconds: c.verifyTimeoutSeconds ?? DEFAULT_SERVE_CONFIG.verifyTimeoutSeconds,
    cache: Object.freeze({ ...DEFAULT_SERVE_CONFIG.cache, ...stripUndefined(c.cache ?? {}) }),
    nodeName: c.nodeName,
    metricsAddress: c.metricsAddress ?? DEFAULT_SERVE_CONFIG.metricsAddress,
    revalidateIntervalSeconds: c.revalidateIntervalSeconds ?? DEFAULT_SERVE_CONFIG.revalidateIntervalSeconds,
    registries: Object.freeze(c.registries ?? {}),
    registryCaFiles: Object.freeze((c.registryCaFiles ?? []).map((f) => resolve(options.cwd, f))),
    registryHostsDir: resolve(options.cwd, c.registryHostsDir ?? DEFAULT_SERVE_CONFIG.registryHostsDir),
    breakglassFile: resolve(options.cwd, c.breakglassFile ?? DEFAULT_SERVE_CONFIG.breakglassFile),
    breakglassMaxWindowHours: c.breakglassMaxWindowHours ?? DEFAULT_SERVE_CONFIG.breakglassMaxWindowHours,
    podBreakglassLabel: c.podBreakglassLabel ?? DEFAULT_SERVE_CONFIG.podBreakglassLabel,
    nodeCredentials: Object.freeze({
      credentialProviderConfig: optionalPath(options.cwd, c.nodeCredentials?.credentialProviderConfig),
      credentialProviderBinDir: optionalPath(options.cwd, c.nodeCredentials?.credentialProviderBinDir),
      dockerConfigFiles: Object.freeze(
        (c.nodeCredentials?.dockerConfigFiles ?? DEFAULT_SERVE_CONFIG.nodeCredentials.dockerConfigFiles).map(
          (f) => resolve(options.cwd, f),
        ),
      ),
    }),
  });
}

function optionalPath(cwd: string, path: string | undefined): string | undefined {
  return path === undefined ? undefined : resolve(cwd, path);
}

function parseFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw configError(
      `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  let value: unknown;
  try {
    value = parseYaml(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (err) {
    throw configError(`config file ${file} is not valid YAML/JSON: ${(err as Error).message}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw configError(`config file ${file} must hold a mapping`);
  return value as Record<string, unknown>;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
