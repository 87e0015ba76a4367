/**
 * The one backoff policy every retry loop uses: a capped exponential delay,
 * with a jitter chosen by who retries. Many callers retrying the same server
 * (the token endpoint) take full jitter, which spreads them widest; a single
 * retrier per key (a failed `save`, a kept set waiting for its store) takes
 * half jitter, which keeps a floor so a retry never comes back at once; a
 * pause that is a verdict rather than a retry (a refused identity) takes none.
 */

/** Base and cap of an exponential backoff. */
export interface Backoff {
  /** The delay before the first retry (attempt 1), in ms. */
  readonly baseMs: number;
  /** The largest delay, in ms. */
  readonly maxMs: number;
}

/** How a delay is randomised: anywhere below it, in its upper half, or not at all. */
export type Jitter = 'full' | 'half' | 'none';

/**
 * The delay before retry `attempt` (1 for the first): `baseMs · 2^(attempt−1)`,
 * at most `maxMs`, jittered. `random` is a number in [0, 1).
 */
export function backoffDelay(attempt: number, backoff: Backoff, jitter: Jitter, random: number): number {
  const delay = Math.min(backoff.maxMs, backoff.baseMs * 2 ** (attempt - 1));
  if (jitter === 'full') return random * delay;
  if (jitter === 'half') return delay * (0.5 + random / 2);
  return delay;
}
