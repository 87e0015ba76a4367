import { unrefTimer } from './unref-timer.js';

/**
 * A clock that reads the system clock at most once per `resolutionMs`, as
 * lru-cache does with `ttlResolution`: on the cache-hit path the system
 * clock costs about as much as everything else together.
 *
 * It answers the last reading plus `resolutionMs`, so it runs ahead of the
 * system clock rather than behind it: a token is never served past an
 * `expiresAt` because the reading was stale (at most `resolutionMs` early
 * instead). The reading is renewed when a timer (unref'd, so it never keeps a
 * process alive) lets the next call read again. Only a synchronous stretch
 * longer than `resolutionMs` (the timer cannot fire) lets the real time pass
 * the answer; such a stretch delays the use of any token it is handed anyway.
 *
 * @param read the system clock; injectable for tests.
 */
export function coarseClock(resolutionMs: number, read: () => number = Date.now): () => number {
  let reading = 0;
  let fresh = false;
  const expire = (): void => {
    fresh = false;
  };
  return () => {
    if (!fresh) {
      reading = read() + resolutionMs;
      fresh = true;
      unrefTimer(setTimeout(expire, resolutionMs));
    }
    return reading;
  };
}
