import { createHash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { AttestationRecord } from './attestation.js';
import type { KeylessCheck } from './keyless/verify-bundle.js';
import type { TrustedKey } from './public-key.js';
import { verifySignatureAsync } from './signature.js';

/**
 * Signature verifications one decision may spend (cryptographic checks actually run; repeats answered
 * from the session's memo are free). A legitimate image needs one per required key; what is beyond this
 * is an attack or a mistake, and the attestors still unsatisfied are reported as VERIFICATION_LIMIT.
 */
export const MAX_VERIFICATIONS_PER_DECISION = 128;

const fingerprints = new WeakMap<KeyObject, string>();

/** sha256 of a key's SPKI DER: the same key material under two ids or two attestors is one key. */
export function keyFingerprint(key: TrustedKey): string {
  let fp = fingerprints.get(key.key);
  if (fp === undefined) {
    fp = createHash('sha256')
      .update(key.key.export({ type: 'spki', format: 'der' }))
      .digest('hex');
    fingerprints.set(key.key, fp);
  }
  return `${key.algorithm}:${fp}`;
}

/**
 * The verification budget and memo of one decision. Each (key material, payload, signature) is verified
 * at most once per session, however many attestors hold the key and however often the decision is
 * re-evaluated as more evidence arrives; the cryptography runs off the event loop (verifySignatureAsync).
 * Create one per decision; not shared between decisions (a verdict must not depend on another's budget).
 */
export class VerificationSession {
  readonly maxVerifications: number;
  private readonly memo = new Map<string, Promise<boolean>>();
  private spent = 0;

  constructor(maxVerifications: number = MAX_VERIFICATIONS_PER_DECISION) {
    this.maxVerifications = maxVerifications;
  }

  /** Verifications actually run so far. */
  get verifications(): number {
    return this.spent;
  }

  /**
   * Whether `signature` by `key` covers `payload` (`payloadHash`: its sha256 hex, computed once by the
   * caller). Undefined when the answer is not memoised and the budget is spent. Never rejects.
   */
  verify(
    key: TrustedKey,
    payload: Uint8Array,
    payloadHash: string,
    signature: Uint8Array,
  ): Promise<boolean> | undefined {
    const id = `${keyFingerprint(key)}\0${payloadHash}\0${Buffer.from(signature).toString('base64')}`;
    const known = this.memo.get(id);
    if (known !== undefined) return known;
    if (this.spent >= this.maxVerifications) return undefined;
    this.spent += 1;
    const result = verifySignatureAsync(key, payload, signature);
    this.memo.set(id, result);
    return result;
  }

  private readonly keylessMemo = new WeakMap<AttestationRecord, Map<string, KeylessCheck>>();

  /**
   * The keyless check of `record` under the trust root and thresholds named by `memoKey`, run at most
   * once per session (`run` is the identity-independent check). Undefined when not memoised and the
   * budget cannot pay KEYLESS_VERIFICATION_COST.
   */
  keyless(record: AttestationRecord, memoKey: string, run: () => KeylessCheck): KeylessCheck | undefined {
    let byKey = this.keylessMemo.get(record);
    const known = byKey?.get(memoKey);
    if (known !== undefined) return known;
    if (this.spent + KEYLESS_VERIFICATION_COST > this.maxVerifications) return undefined;
    this.spent += KEYLESS_VERIFICATION_COST;
    const result = run();
    if (byKey === undefined) {
      byKey = new Map();
      this.keylessMemo.set(record, byKey);
    }
    byKey.set(memoKey, result);
    return result;
  }
}

/**
 * Budget units one keyless verification costs (a certificate chain, SCTs, a SET or checkpoint and the
 * signature: about four signature checks, on the event loop: sigstore-js is synchronous).
 */
export const KEYLESS_VERIFICATION_COST = 4;

/** sha256 hex of a payload (memo key part). */
export function payloadHash(payload: Uint8Array): string {
  return createHash('sha256').update(payload).digest('hex');
}
