import type { BreakglassDocument } from './document.js';
import { toProblem, type BreakglassProblem } from './problems.js';
import { matchBreakglassScope, type BreakglassRequest, type BreakglassScope } from './scope.js';

/** A breakglass file as last read, before the clock is applied. */
export type LoadedBreakglass =
  | { readonly kind: 'absent' }
  | { readonly kind: 'invalid'; readonly problem: BreakglassProblem; readonly fileSha256: string | undefined }
  | {
      readonly kind: 'parsed';
      readonly document: BreakglassDocument;
      readonly fileSha256: string;
      /** When the file was written (its mtime): the window is measured from here, not from now. */
      readonly writtenAtMs: number;
    };

/** The breakglass as of one instant: what `criguard breakglass status` and the daemon's metrics show. */
export interface BreakglassStatus {
  /** `active`: honoured now; `expired`: valid but past `expiresAt`; `invalid`: ignored as a whole. */
  readonly state: 'absent' | 'active' | 'expired' | 'invalid';
  /** ISO 8601 UTC expiry, when the file parsed. */
  readonly expiresAt?: string;
  readonly scope?: BreakglassScope;
  /** The operator's reason, when the file parsed. */
  readonly reason?: string;
  readonly ticket?: string;
  readonly createdBy?: string;
  /** Why the file is not honoured (`expired` and `invalid` only). */
  readonly problem?: BreakglassProblem;
  /** `sha256:<hex>` of the bytes read, whenever the file could be read. */
  readonly fileSha256?: string;
}

/** What an active breakglass grants one request: everything the audit record needs. */
export interface BreakglassGrant {
  readonly reason: string;
  readonly ticket: string | undefined;
  readonly createdBy: string | undefined;
  /** ISO 8601 UTC. */
  readonly expiresAt: string;
  /** `sha256:<hex>` of the file's bytes. */
  readonly fileSha256: string;
  readonly scope: BreakglassScope;
  /** What matched: `['all']` or e.g. `['namespace:payments', 'image:gcr.io/acme/**']`. */
  readonly matched: readonly string[];
}

/**
 * Applies the clock to a loaded file: `active` when `now < expiresAt` and `expiresAt - min(now, written) <=
 * maxWindowMs`;
 * `expired` (`CG_ERR_BREAKGLASS_EXPIRED`) when `now >= expiresAt` (or `now` is not a number); `invalid`
 * (`CG_ERR_BREAKGLASS_TOO_LONG`) when the expiry is beyond the window. Pure; fail closed.
 */
export function evaluateBreakglass(
  loaded: LoadedBreakglass,
  now: number,
  maxWindowMs: number,
): BreakglassStatus {
  if (loaded.kind === 'absent') return Object.freeze({ state: 'absent' });
  if (loaded.kind === 'invalid') {
    return Object.freeze({
      state: 'invalid',
      problem: loaded.problem,
      ...(loaded.fileSha256 !== undefined && { fileSha256: loaded.fileSha256 }),
    });
  }
  const d = loaded.document;
  const facts = {
    expiresAt: d.expiresAt,
    scope: d.scope.written,
    reason: d.reason,
    ...(d.ticket !== undefined && { ticket: d.ticket }),
    ...(d.createdBy !== undefined && { createdBy: d.createdBy }),
    fileSha256: loaded.fileSha256,
  };
  if (!(now < d.expiresAtMs)) {
    const problem = toProblem('CG_ERR_BREAKGLASS_EXPIRED', `expired at ${d.expiresAt}`);
    return Object.freeze({ state: 'expired', problem, ...facts });
  }
  // Measured from when the file was written (or now, if earlier): a far-future expiry stays invalid
  // instead of becoming valid once its last `maxWindowMs` begin.
  if (!(d.expiresAtMs - Math.min(now, loaded.writtenAtMs) <= maxWindowMs)) {
    const problem = toProblem(
      'CG_ERR_BREAKGLASS_TOO_LONG',
      `expiresAt ${d.expiresAt} is more than ${Math.round(maxWindowMs / 60_000)} minutes away (the maximum window)`,
    );
    return Object.freeze({ state: 'invalid', problem, ...facts });
  }
  return Object.freeze({ state: 'active', ...facts });
}

/**
 * The grant an active breakglass gives `request` at `now`, or undefined (absent, expired, invalid, beyond
 * the window, or outside the scope). Expiry is checked here, at every decision. Pure; fail closed.
 */
export function grantBreakglass(
  loaded: LoadedBreakglass,
  request: BreakglassRequest,
  now: number,
  maxWindowMs: number,
): BreakglassGrant | undefined {
  if (loaded.kind !== 'parsed') return undefined;
  if (evaluateBreakglass(loaded, now, maxWindowMs).state !== 'active') return undefined;
  const d = loaded.document;
  const matched = matchBreakglassScope(d.scope, request);
  if (!matched) return undefined;
  return Object.freeze({
    reason: d.reason,
    ticket: d.ticket,
    createdBy: d.createdBy,
    expiresAt: d.expiresAt,
    fileSha256: loaded.fileSha256,
    scope: d.scope.written,
    matched,
  });
}
