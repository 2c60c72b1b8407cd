import { z } from 'zod';
import { LOG_LEVELS, type LogLevel } from '../log/levels.js';

/**
 * Every setting of `criguard serve`, declared once: its default, what the config file accepts, its flag
 * and its help. The config file schema, the flag parser, `serve --help`, the installer's and the
 * breakglass commands' defaults are all generated from this table; docs/configuration.md has one row per
 * key (checked by a test). Imports nothing with I/O, so any module may import the defaults.
 */

/**
 * How a value is normalised after validation, and how its flag is parsed:
 * `socket` a path or unix:// URL → absolute path; `path` relative to the working directory → absolute;
 * `output` a path, or `-` for stdout; `paths` a list of `path`s (repeatable flag); `mode` octal text or
 * number → number; `number`, `boolean`, `text` as they are; `value` structured, config file only.
 */
export type SettingKind =
  'socket' | 'path' | 'output' | 'paths' | 'mode' | 'number' | 'boolean' | 'text' | 'value';

/** One setting. `T` is its type in the daemon's configuration (`ServeConfig`). */
export interface Setting<T> {
  readonly default: T;
  /** What the config file (and the flag, once parsed) may hold; every key is optional in the file. */
  readonly schema: z.ZodType;
  readonly kind: SettingKind;
  /** The flag, without `--`; none: config file only. */
  readonly flag?: string;
  /** The flag's value in help, e.g. `SECONDS`. */
  readonly arg?: string;
  readonly help: string;
  /** How help and docs show the default when it is not simply the value (e.g. `host name`). */
  readonly defaultText?: string;
}

const octalMode = z.union([
  z.string().regex(/^0?[0-7]{3}$/, 'must be an octal mode such as "0660"'),
  z.number().int().min(0).max(0o777),
]);
const nonEmpty = z.string().min(1);
const registryHost = z
  .string()
  .regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$/, 'must be host or host:port');

/** Per-registry settings by host (`host[:port]`). */
export type RegistrySettings = Readonly<
  Record<string, { readonly plainHttp?: boolean; readonly credentialRealmHosts?: readonly string[] }>
>;

/** The settings of `criguard serve`, after defaults, the config file and flags were merged. */
export interface ServeConfig {
  readonly listen: string;
  readonly upstream: string;
  readonly socketMode: number;
  readonly logLevel: LogLevel;
  readonly shutdownTimeoutSeconds: number;
  /** Policy file; undefined runs the proxy without enforcement (logged loudly at start). */
  readonly policy: string | undefined;
  readonly attestorsDir: string | undefined;
  /** Sigstore trusted_root.json for keyless attestors without their own; undefined: the shipped one. */
  readonly trustedRoot: string | undefined;
  readonly attestationsDir: string | undefined;
  readonly cluster: string | undefined;
  readonly stateDir: string;
  /** Audit log path, or "-" for stdout. */
  readonly auditLog: string;
  readonly verifyTimeoutSeconds: number;
  /** Image verifications that run at once; later decisions wait in order (docs/adr/0009). */
  readonly verifyConcurrency: number;
  readonly cache: {
    readonly maxEntries: number;
    readonly allowTtlSeconds: number;
    readonly denyTtlSeconds: number;
  };
  readonly nodeName: string | undefined;
  /** `host:port` of /metrics, /healthz, /readyz and /status; "off" disables it. */
  readonly metricsAddress: string;
  readonly revalidateIntervalSeconds: number;
  readonly registries: RegistrySettings;
  readonly registryCaFiles: readonly string[];
  /** containerd's registry host configuration (`config_path`): mirrors and endpoints, as containerd uses them. */
  readonly registryHostsDir: string;
  readonly breakglassFile: string;
  readonly breakglassMaxWindowHours: number;
  /** The node's quarantine (deny) list (docs/quarantine.md). */
  readonly quarantineFile: string;
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
  /** What clients of the listening socket may hold (docs/configuration.md). */
  readonly connections: {
    readonly max: number;
    readonly prefaceTimeoutSeconds: number;
    /** 0 disables. */
    readonly idleTimeoutSeconds: number;
    readonly maxHeldMiB: number;
    readonly maxHeldTotalMiB: number;
  };
}

/** The settings grouped under one config key (`cache:`, `connections:`). */
type SettingGroup = 'cache' | 'connections' | 'nodeCredentials';

/** ServeConfig with its groups spelled as dotted keys, the way the table lists them. */
export type FlatServeConfig = Omit<ServeConfig, SettingGroup> & {
  readonly [K in keyof ServeConfig['cache'] as `cache.${K}`]: ServeConfig['cache'][K];
} & {
  readonly [K in keyof ServeConfig['connections'] as `connections.${K}`]: ServeConfig['connections'][K];
} & {
  readonly [
    K in keyof ServeConfig['nodeCredentials'] as `nodeCredentials.${K}`
  ]: ServeConfig['nodeCredentials'][K];
};

export const SERVE_SETTINGS = Object.freeze({
  listen: {
    default: '/run/criguard/criguard.sock',
    schema: nonEmpty,
    kind: 'socket',
    flag: 'listen',
    arg: 'PATH|unix://PATH',
    help: "the kubelet's CRI endpoint; under systemd the socket criguard.socket passes must be bound here",
  },
  upstream: {
    default: '/run/containerd/containerd.sock',
    schema: nonEmpty,
    kind: 'socket',
    flag: 'upstream',
    arg: 'PATH|unix://PATH',
    help: "containerd's socket",
  },
  socketMode: {
    default: 0o660,
    schema: octalMode,
    kind: 'mode',
    flag: 'socket-mode',
    arg: 'MODE',
    help: 'permissions of the socket criguard creates, octal (under systemd: SocketMode= of criguard.socket)',
    defaultText: '0660',
  },
  logLevel: {
    default: 'info' as LogLevel,
    schema: z.enum(LOG_LEVELS),
    kind: 'text',
    flag: 'log-level',
    arg: 'LEVEL',
    help: `${LOG_LEVELS.join('|')}; JSON lines on stdout`,
  },
  shutdownTimeoutSeconds: {
    default: 10,
    schema: z.number().positive().max(600),
    kind: 'number',
    flag: 'shutdown-timeout',
    arg: 'SECONDS',
    help: 'how long SIGTERM waits for calls in flight',
  },
  policy: {
    default: undefined,
    schema: nonEmpty,
    kind: 'path',
    flag: 'policy',
    arg: 'FILE',
    help: 'the admission policy (docs/policy.md), reloaded on change and on SIGHUP. Without it criguard enforces nothing (and says so at start)',
    defaultText: 'none',
  },
  attestorsDir: {
    default: undefined,
    schema: nonEmpty,
    kind: 'path',
    flag: 'attestors-dir',
    arg: 'DIR',
    help: "attestor files besides the policy's inline attestors",
    defaultText: 'none',
  },
  trustedRoot: {
    default: undefined,
    schema: nonEmpty,
    kind: 'path',
    flag: 'trusted-root',
    arg: 'FILE',
    help: 'Sigstore trusted_root.json for keyless attestors with no root in the policy; watched like the policy',
    defaultText: 'built-in',
  },
  attestationsDir: {
    default: undefined,
    schema: nonEmpty,
    kind: 'path',
    flag: 'attestations-dir',
    arg: 'DIR',
    help: 'offline attestations: DIR/sha256-<hex>/*.json',
    defaultText: 'none',
  },
  cluster: {
    default: undefined,
    schema: nonEmpty,
    kind: 'text',
    flag: 'cluster',
    arg: 'LOCATION.ID',
    help: "this node's location.clusterId, for clusterAdmissionRules",
    defaultText: 'none',
  },
  stateDir: {
    default: '/var/lib/criguard',
    schema: nonEmpty,
    kind: 'path',
    flag: 'state-dir',
    arg: 'DIR',
    help: 'persisted verdicts and attestations (0700)',
  },
  auditLog: {
    default: '/var/log/criguard/audit.log',
    schema: nonEmpty,
    kind: 'output',
    flag: 'audit-log',
    arg: 'FILE|-',
    help: 'one JSON line per decision; - for stdout',
  },
  verifyTimeoutSeconds: {
    default: 30,
    schema: z.number().positive().max(600),
    kind: 'number',
    flag: 'verify-timeout',
    arg: 'SECONDS',
    help: 'time budget to resolve and verify one image (registry calls included)',
  },
  verifyConcurrency: {
    default: 8,
    schema: z.number().int().positive().max(256),
    kind: 'number',
    flag: 'verify-concurrency',
    arg: 'N',
    help: 'image verifications run at once; later decisions wait in order (at most 1,000, more are refused) and the wait counts against the time budget',
  },
  'cache.maxEntries': {
    default: 10_000,
    schema: z.number().int().positive().max(1_000_000),
    kind: 'number',
    flag: 'cache-max-entries',
    arg: 'N',
    help: 'verdicts kept',
  },
  'cache.allowTtlSeconds': {
    default: 24 * 3600,
    schema: z
      .number()
      .min(0)
      .max(30 * 24 * 3600),
    kind: 'number',
    flag: 'cache-allow-ttl',
    arg: 'SECONDS',
    help: 'how long an allow is reused',
  },
  'cache.denyTtlSeconds': {
    default: 60,
    schema: z
      .number()
      .min(0)
      .max(24 * 3600),
    kind: 'number',
    flag: 'cache-deny-ttl',
    arg: 'SECONDS',
    help: 'how long a deny is reused',
  },
  nodeName: {
    default: undefined,
    schema: nonEmpty,
    kind: 'text',
    flag: 'node-name',
    arg: 'NAME',
    help: 'node name in audit records',
    defaultText: 'host name',
  },
  metricsAddress: {
    default: '127.0.0.1:9798',
    schema: z.string().regex(/^(off|(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5})$/, 'must be host:port or "off"'),
    kind: 'text',
    flag: 'metrics-address',
    arg: 'HOST:PORT|off',
    help: '/metrics, /healthz, /readyz, /status; off disables them',
  },
  revalidateIntervalSeconds: {
    default: 300,
    schema: z
      .number()
      .min(0)
      .max(7 * 24 * 3600),
    kind: 'number',
    flag: 'revalidate-interval',
    arg: 'SECONDS',
    help: "re-check running containers' images this often; 0 = once at start",
  },
  registries: {
    default: Object.freeze({}) as RegistrySettings,
    schema: z.record(
      registryHost,
      z.strictObject({
        plainHttp: z.boolean().optional(),
        credentialRealmHosts: z.array(nonEmpty).max(16).optional(),
      }),
    ),
    kind: 'value',
    help: "per registry host: plainHttp: true (loopback registries need nothing), credentialRealmHosts: [...] token services trusted with the kubelet's credentials (e.g. auth.docker.io for docker.io)",
    defaultText: '{}',
  },
  registryCaFiles: {
    default: Object.freeze([]) as readonly string[],
    schema: z.array(nonEmpty).max(32),
    kind: 'paths',
    flag: 'registry-ca-file',
    arg: 'FILE',
    help: 'extra CA certificates (PEM) trusted for registries; repeatable',
    defaultText: 'none',
  },
  registryHostsDir: {
    default: '/etc/containerd/certs.d',
    schema: nonEmpty,
    kind: 'path',
    flag: 'registry-hosts-dir',
    arg: 'DIR',
    help: "containerd's registry host configuration (config_path: hosts.toml files); mirrors are used as containerd uses them",
  },
  breakglassFile: {
    default: '/etc/criguard/breakglass.yaml',
    schema: nonEmpty,
    kind: 'path',
    flag: 'breakglass-file',
    arg: 'PATH',
    help: "the node's breakglass file (docs/breakglass.md)",
  },
  breakglassMaxWindowHours: {
    default: 24,
    schema: z
      .number()
      .positive()
      .max(24 * 7),
    kind: 'number',
    flag: 'breakglass-max-window',
    arg: 'HOURS',
    help: 'the longest breakglass honoured, from now',
  },
  quarantineFile: {
    default: '/etc/criguard/quarantine.yaml',
    schema: nonEmpty,
    kind: 'path',
    flag: 'quarantine-file',
    arg: 'PATH',
    help: "the node's quarantine list: images denied whatever the policy says (docs/quarantine.md)",
  },
  podBreakglassLabel: {
    default: false,
    schema: z.boolean(),
    kind: 'boolean',
    flag: 'pod-breakglass-label',
    help: 'honour the pod label image-policy.k8s.io/break-glass: "true" (anyone who can create pods can set it)',
  },
  'nodeCredentials.credentialProviderConfig': {
    default: undefined,
    schema: nonEmpty,
    kind: 'path',
    flag: 'image-credential-provider-config',
    arg: 'FILE',
    help: "the kubelet's --image-credential-provider-config (with credentialProviderBinDir)",
    defaultText: 'none',
  },
  'nodeCredentials.credentialProviderBinDir': {
    default: undefined,
    schema: nonEmpty,
    kind: 'path',
    flag: 'image-credential-provider-bin-dir',
    arg: 'DIR',
    help: "the kubelet's --image-credential-provider-bin-dir (with credentialProviderConfig)",
    defaultText: 'none',
  },
  'nodeCredentials.dockerConfigFiles': {
    default: Object.freeze([
      '/var/lib/kubelet/config.json',
      '/root/.docker/config.json',
      '/.docker/config.json',
    ]) as readonly string[],
    schema: z.array(nonEmpty).max(16),
    kind: 'paths',
    flag: 'docker-config-file',
    arg: 'FILE',
    help: 'Docker config.json files the kubelet reads, in order (the first found is used); repeatable',
    defaultText: '/var/lib/kubelet/config.json, /root/.docker/config.json, /.docker/config.json',
  },
  'connections.max': {
    default: 128,
    schema: z.number().int().min(1).max(65_536),
    kind: 'number',
    flag: 'max-connections',
    arg: 'N',
    help: 'client connections served at once; more are refused with GOAWAY (ENHANCE_YOUR_CALM)',
  },
  'connections.prefaceTimeoutSeconds': {
    default: 10,
    schema: z.number().positive().max(600),
    kind: 'number',
    flag: 'preface-timeout',
    arg: 'SECONDS',
    help: 'a connection that has not sent the HTTP/2 preface by then is closed',
  },
  'connections.idleTimeoutSeconds': {
    default: 600,
    schema: z
      .number()
      .min(0)
      .max(7 * 24 * 3600),
    kind: 'number',
    flag: 'idle-timeout',
    arg: 'SECONDS',
    help: 'a connection with no call open this long is closed with GOAWAY (NO_ERROR); 0 disables',
  },
  'connections.maxHeldMiB': {
    default: 64,
    schema: z.number().int().min(17).max(4096),
    kind: 'number',
    flag: 'max-held-mib',
    arg: 'MIB',
    help: 'bytes one connection may have held for a decision at once (one 16 MiB message fits)',
  },
  'connections.maxHeldTotalMiB': {
    default: 256,
    schema: z.number().int().min(17).max(65_536),
    kind: 'number',
    flag: 'max-held-total-mib',
    arg: 'MIB',
    help: 'the same bound for all connections together',
  },
} as const satisfies { readonly [K in keyof FlatServeConfig]-?: Setting<FlatServeConfig[K]> });

/** A setting's key: a top-level config key, or `group.key`. */
export type SettingKey = keyof typeof SERVE_SETTINGS;

/** Every setting in table order. */
export const SETTING_KEYS = Object.freeze(Object.keys(SERVE_SETTINGS)) as readonly SettingKey[];

/** The setting of a key (typed loosely, for generic code: help, flags, docs). */
export function settingOf(key: SettingKey): Setting<unknown> {
  return SERVE_SETTINGS[key];
}

/** How help and docs show a setting's default. */
export function defaultText(key: SettingKey): string {
  const setting = settingOf(key);
  if (setting.defaultText !== undefined) return setting.defaultText;
  return String(setting.default);
}
