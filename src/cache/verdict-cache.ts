import { LRUCache } from 'lru-cache';
import type { Verdict } from '../policy/verdict.js';

/** Distinct verdict objects kept for sharing (they differ by policy revision, rule, reason and keys). */
const INTERNED = 4096;

export interface VerdictCacheOptions {
  readonly maxEntries: number;
  /** How long an allow (including a dry-run allow) is reused. */
  readonly allowTtlMs: number;
  /** How long a deny is reused (short: a new signature should take effect soon). */
  readonly denyTtlMs: number;
  readonly now: () => number;
}

/** A cached verdict with its absolute expiry, as persisted. */
export interface CachedVerdict {
  readonly key: string;
  readonly verdict: Verdict;
  readonly expiresAt: number;
}

/**
 * Verdicts by key (digest + policy revision + rule + name: see admission's cacheKey). Only verdicts are
 * stored: "could not decide" is never cached. `share` gives concurrent computations of one key a single
 * run (single flight); a failed run is not cached and every waiter sees its error.
 */
export class VerdictCache {
  private readonly lru: LRUCache<string, CachedVerdict>;
  private readonly inFlight = new Map<string, Promise<Verdict>>();
  /** Equal verdicts share one object (verdicts repeat across images): at most INTERNED kept. */
  private readonly interned = new Map<string, Verdict>();
  /** Counts every change of the entries (set, delete, clear, restore): persistence saves only after one. */
  changes = 0;
  hits = 0;
  misses = 0;
  /** Computations actually run by share() (concurrent misses of one key count once). */
  verifications = 0;

  constructor(private readonly options: VerdictCacheOptions) {
    this.lru = new LRUCache({ max: options.maxEntries });
  }

  get size(): number {
    return this.lru.size;
  }

  get(key: string): Verdict | undefined {
    const entry = this.lru.get(key);
    if (entry && entry.expiresAt > this.options.now()) {
      this.hits += 1;
      return entry.verdict;
    }
    if (entry) {
      this.lru.delete(key);
      this.changes += 1;
    }
    this.misses += 1;
    return undefined;
  }

  set(key: string, verdict: Verdict): void {
    const ttl = verdict.decision === 'allow' ? this.options.allowTtlMs : this.options.denyTtlMs;
    if (ttl <= 0) return;
    this.lru.set(key, { key, verdict: this.intern(verdict), expiresAt: this.options.now() + ttl });
    this.changes += 1;
  }

  /** The one object kept for verdicts equal to `verdict` (a verdict is frozen data, compared as JSON). */
  private intern(verdict: Verdict): Verdict {
    const text = JSON.stringify(verdict);
    const known = this.interned.get(text);
    if (known !== undefined) return known;
    if (this.interned.size >= INTERNED) this.interned.clear();
    this.interned.set(text, verdict);
    return verdict;
  }

  /** Runs `compute` once per key at a time; its verdict is cached. */
  share(key: string, compute: () => Promise<Verdict>): Promise<Verdict> {
    const running = this.inFlight.get(key);
    if (running) return running;
    this.verifications += 1;
    const run = compute().then((verdict) => {
      this.set(key, verdict);
      return verdict;
    });
    this.inFlight.set(key, run);
    const done = () => this.inFlight.delete(key);
    run.then(done, done);
    return run;
  }

  /** Drops every entry (e.g. after a policy reload, though keys carry the revision anyway). */
  clear(): void {
    this.lru.clear();
    this.changes += 1;
  }

  /** Unexpired entries, most recently used first, for persistence. */
  entries(): CachedVerdict[] {
    const now = this.options.now();
    return [...this.lru.values()].filter((e) => e.expiresAt > now);
  }

  /**
   * Loads persisted entries, keeping their expiries; skips expired ones and any whose expiry lies further
   * ahead than this cache's TTL for its decision allows (a far-future expiry is not honoured).
   */
  restore(entries: readonly CachedVerdict[]): number {
    const now = this.options.now();
    let loaded = 0;
    for (const e of [...entries].reverse()) {
      const ttl = e.verdict.decision === 'allow' ? this.options.allowTtlMs : this.options.denyTtlMs;
      if (!(e.expiresAt > now && e.expiresAt <= now + ttl)) continue;
      this.lru.set(e.key, { key: e.key, verdict: this.intern(e.verdict), expiresAt: e.expiresAt });
      loaded += 1;
    }
    this.changes += 1;
    return loaded;
  }
}
