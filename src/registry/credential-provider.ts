import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { RegistryCredentials } from './credentials.js';
import { bestMatch, imageHost, imageMatches } from './image-match.js';

/**
 * The kubelet's credential provider plugins: the configuration file its `--image-credential-provider-config`
 * names (CredentialProviderConfig) and the exec protocol `credentialprovider.kubelet.k8s.io/v1` (a
 * CredentialProviderRequest on stdin, a CredentialProviderResponse on stdout), with the response cached in
 * memory for its `cacheDuration` (else the provider's `defaultCacheDuration`) under its `cacheKeyType`.
 */

const PROVIDER_API_VERSIONS = [
  'credentialprovider.kubelet.k8s.io/v1',
  'credentialprovider.kubelet.k8s.io/v1beta1',
  'credentialprovider.kubelet.k8s.io/v1alpha1',
] as const;

const GO_DURATION = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$|^0$/;

const configSchema = z.object({
  apiVersion: z.enum([
    'kubelet.config.k8s.io/v1',
    'kubelet.config.k8s.io/v1beta1',
    'kubelet.config.k8s.io/v1alpha1',
  ]),
  kind: z.literal('CredentialProviderConfig'),
  providers: z
    .array(
      z.object({
        name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'a plugin name, not a path'),
        matchImages: z.array(z.string().min(1)).min(1).max(64),
        defaultCacheDuration: z.string().regex(GO_DURATION, 'a duration such as 12h or 5m0s'),
        apiVersion: z.enum(PROVIDER_API_VERSIONS),
        args: z.array(z.string()).max(64).optional(),
        env: z
          .array(z.object({ name: z.string().min(1), value: z.string() }))
          .max(64)
          .optional(),
        tokenAttributes: z.unknown().optional(),
      }),
    )
    .max(32),
});

/** One configured plugin. */
export interface CredentialProvider {
  readonly name: string;
  readonly matchImages: readonly string[];
  readonly defaultCacheMs: number;
  readonly apiVersion: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Needs a pod's service account token (tokenAttributes): a node daemon has none, so it is never run. */
  readonly needsServiceAccountToken: boolean;
}

/** Parses Go's duration syntax (`1h30m`, `5m0s`, `0`) to milliseconds. */
export function parseGoDuration(text: string): number | undefined {
  if (!GO_DURATION.test(text)) return undefined;
  if (text === '0') return 0;
  const units: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g))
    total += Number(m[1]) * (units[m[2] ?? ''] ?? 0);
  return Math.round(total);
}

/**
 * Reads a CredentialProviderConfig (YAML or JSON). Throws an Error naming the file and the problem (not
 * the contents) when it cannot be read or is invalid.
 */
export function loadCredentialProviderConfig(file: string): CredentialProvider[] {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(
      `credential provider config ${file}: ${(err as NodeJS.ErrnoException).code ?? 'not YAML'}`,
    );
  }
  const parsed = configSchema.safeParse(doc);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new Error(
      `credential provider config ${file}: ${first?.path.join('.') ?? ''}: ${first?.message ?? 'invalid'}`,
    );
  }
  return parsed.data.providers.map((p) =>
    Object.freeze({
      name: p.name,
      matchImages: Object.freeze([...p.matchImages]),
      defaultCacheMs: parseGoDuration(p.defaultCacheDuration) ?? 0,
      apiVersion: p.apiVersion,
      args: Object.freeze([...(p.args ?? [])]),
      env: Object.freeze(Object.fromEntries((p.env ?? []).map((e) => [e.name, e.value]))),
      needsServiceAccountToken: p.tokenAttributes !== undefined,
    }),
  );
}

const responseSchema = z.object({
  apiVersion: z.string(),
  kind: z.literal('CredentialProviderResponse'),
  cacheKeyType: z.enum(['Image', 'Registry', 'Global']),
  cacheDuration: z.string().regex(GO_DURATION).optional(),
  auth: z
    .record(
      z.string().max(512),
      z.object({ username: z.string().max(4096), password: z.string().max(16384) }),
    )
    .optional(),
});

/** What runs a plugin: resolves to its stdout, rejects on a non-zero exit, a timeout or too much output. */
export type PluginRunner = (
  command: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  stdin: string,
  signal: AbortSignal,
) => Promise<string>;

/** Options of createCredentialProviders. */
export interface CredentialProvidersOptions {
  readonly providers: readonly CredentialProvider[];
  /** The kubelet's `--image-credential-provider-bin-dir`. */
  readonly binDir: string;
  readonly clock: () => number;
  /** Per plugin run (default 30 s). */
  readonly timeoutMs?: number;
  /** Told that a plugin failed (name and a short reason; never its output). */
  readonly onError?: (provider: string, reason: string) => void;
  readonly run?: PluginRunner;
}

interface CacheEntry {
  readonly expiresAt: number;
  readonly auth: ReadonlyArray<readonly [string, RegistryCredentials]>;
}

/** Credentials from the kubelet's plugins, in configuration order, cached in memory as the kubelet does. */
export interface CredentialProviders {
  lookup(image: string, signal: AbortSignal): Promise<RegistryCredentials | undefined>;
}

/**
 * Looks up `image` (`host[:port]/path`) with each plugin whose `matchImages` matches it, in configuration
 * order; the first plugin that returns credentials matching the image wins. Responses are cached per
 * plugin under the response's key type (the image, its registry host, or global) until their duration ends
 * (a zero duration is not cached). A failing plugin is skipped (reported through onError).
 */
export function createCredentialProviders(options: CredentialProvidersOptions): CredentialProviders {
  const run = options.run ?? runPlugin;
  const caches = new Map<string, Map<string, CacheEntry>>();
  const inflight = new Map<string, Promise<CacheEntry | undefined>>();

  function cached(provider: string, image: string): CacheEntry | undefined {
    const cache = caches.get(provider);
    if (cache === undefined) return undefined;
    const now = options.clock();
    for (const key of [`Image:${image}`, `Registry:${imageHost(image)}`, 'Global:']) {
      const entry = cache.get(key);
      if (entry === undefined) continue;
      if (entry.expiresAt > now) return entry;
      cache.delete(key);
    }
    return undefined;
  }

  async function exec(
    p: CredentialProvider,
    image: string,
    signal: AbortSignal,
  ): Promise<CacheEntry | undefined> {
    const request = JSON.stringify({ apiVersion: p.apiVersion, kind: 'CredentialProviderRequest', image });
    const timeout = AbortSignal.timeout(options.timeoutMs ?? 30_000);
    let stdout: string;
    try {
      stdout = await run(
        join(options.binDir, p.name),
        p.args,
        p.env,
        request,
        AbortSignal.any([signal, timeout]),
      );
    } catch (err) {
      options.onError?.(p.name, (err as Error).message);
      return undefined;
    }
    let parsed;
    try {
      parsed = responseSchema.safeParse(JSON.parse(stdout));
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || !parsed.success || parsed.data.apiVersion !== p.apiVersion) {
      options.onError?.(p.name, 'invalid CredentialProviderResponse');
      return undefined;
    }
    const response = parsed.data;
    const ttl =
      response.cacheDuration === undefined
        ? p.defaultCacheMs
        : (parseGoDuration(response.cacheDuration) ?? 0);
    const entry: CacheEntry = Object.freeze({
      expiresAt: options.clock() + ttl,
      auth: Object.freeze(
        Object.entries(response.auth ?? {})
          .slice(0, 256)
          .map(([k, v]) =>
            Object.freeze([k, Object.freeze({ username: v.username, password: v.password })] as const),
          ),
      ),
    });
    if (ttl > 0) {
      const key =
        response.cacheKeyType === 'Image'
          ? `Image:${image}`
          : response.cacheKeyType === 'Registry'
            ? `Registry:${imageHost(image)}`
            : 'Global:';
      let cache = caches.get(p.name);
      if (cache === undefined) caches.set(p.name, (cache = new Map()));
      if (cache.size >= 1024) cache.clear();
      cache.set(key, entry);
    }
    return entry;
  }

  return {
    async lookup(image, signal) {
      for (const p of options.providers) {
        if (p.needsServiceAccountToken || !p.matchImages.some((m) => imageMatches(m, image))) continue;
        let entry = cached(p.name, image);
        if (entry === undefined) {
          const key = `${p.name}\u0000${image}`;
          let pending = inflight.get(key);
          if (pending === undefined) {
            pending = exec(p, image, signal).finally(() => inflight.delete(key));
            inflight.set(key, pending);
          }
          entry = await pending;
        }
        const found = entry === undefined ? undefined : bestMatch(entry.auth, image);
        if (found !== undefined) return found;
      }
      return undefined;
    },
  };
}

const MAX_PLUGIN_OUTPUT = 1024 * 1024;

/** Runs a plugin with the daemon's environment plus the configured one; stderr is discarded (never logged). */
const runPlugin: PluginRunner = (command, args, env, stdin, signal) =>
  new Promise((resolve, reject) => {
    const child = spawn(command, [...args], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'ignore'],
      signal,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    child.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_PLUGIN_OUTPUT) {
        child.kill('SIGKILL');
        return;
      }
      chunks.push(c);
    });
    child.on('error', (err) => reject(new Error(err.name === 'AbortError' ? 'timed out' : 'cannot run')));
    child.on('close', (code) => {
      if (size > MAX_PLUGIN_OUTPUT) reject(new Error('output too large'));
      else if (code !== 0) reject(new Error(`exit ${String(code)}`));
      else resolve(Buffer.concat(chunks).toString('utf8'));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
