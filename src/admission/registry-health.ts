import type { Clock } from './ports.js';
import { errorCode, registryOf, UNAVAILABLE_CODES } from './undecided.js';

/** How long a registry that failed is tried after the others. */
export const UNHEALTHY_FOR_MS = 60_000;

/**
 * Which registries failed recently (unreachable or too slow), so that a decision with several names for
 * one image asks the healthy ones first. Only an ordering hint: never a verdict. Bounded.
 */
export interface RegistryHealth {
  /** Notes the outcome of a judgement of an image on `name`'s registry (`err` undefined: it answered). */
  observe(name: string, err: unknown): void;
  healthy(name: string): boolean;
}

export function createRegistryHealth(clock: Clock, maxHosts = 1024): RegistryHealth {
  const failedAt = new Map<string, number>();
  return {
    observe(name, err) {
      const host = registryOf(name);
      if (err === undefined) failedAt.delete(host);
      if (!UNAVAILABLE_CODES.has(errorCode(err))) return;
      failedAt.delete(host);
      failedAt.set(host, clock());
      if (failedAt.size > maxHosts) failedAt.delete(failedAt.keys().next().value!);
    },
    healthy(name) {
      const at = failedAt.get(registryOf(name));
      return at === undefined || clock() - at > UNHEALTHY_FOR_MS;
    },
  };
}
