import { unrefTimer } from './save-retrier.js';

/**
 * A clock that reads `Date.now()` at most once per `resolutionMs`, as
 * lru-cache does with `ttlResolution`: on the cache-hit path the system
 * clock costs about as much as everything else together.
 *
 * The reading is reused until a timer (unref'd, so it never keeps a process
 * alive) lets the next call read again. The clock therefore lags by at most
 * `resolutionMs` while the event loop turns. Only a long run of microtasks
 * that never yields to timers sees it lag longer; expiry is computed at
 * least a second short, so neither lag hands out an expired token.
 */
export function coarseClock(resolutionMs: number): () => number {
  let reading = 0;
  let fresh = false;
  const expire = (): void => {
    fresh = false;
  };
  return () => {
    if (!fresh) {
      reading = Date.now();
      fresh = true;
      unrefTimer(setTimeout(expire, resolutionMs));
    }
    return reading;
  };
}
