// Benchmark 1: a cache hit with 10,000 resident keys, against the floor for
// a promise-returning API: an awaited lru-cache lookup in an async function.
import { LRUCache } from 'lru-cache';
import { TokenCache } from '@refreshkit/core';
import { nsPerCall, unusedEndpoint, type Benchmark } from './harness.js';

const KEYS = 10_000;
const ITERATIONS = 1_000_000;
const ROUNDS = 7;

export const hitPath: Benchmark = {
  id: 'hit-path',
  async run() {
    const keys = Array.from({ length: KEYS }, (_, i) => `user-${i}`);
    const cache = new TokenCache({ endpoint: unusedEndpoint });
    const floorStore = new LRUCache<string, { accessToken: string }>({ max: KEYS });
    const expiresAt = Date.now() + 3_600_000;
    for (const key of keys) {
      await cache.set(key, { accessToken: `token-${key}`, refreshToken: 'r', expiresAt });
      floorStore.set(key, { accessToken: `token-${key}` });
    }
    const floor = async (key: string) => floorStore.get(key)?.accessToken;

    // Alternate the two in rounds so both see the same machine state; keep the best round of each.
    let ours = Infinity;
    let base = Infinity;
    for (let round = 0; round < ROUNDS; round++) {
      base = Math.min(base, await nsPerCall(ITERATIONS, (i) => floor(keys[i % KEYS]!)));
      ours = Math.min(ours, await nsPerCall(ITERATIONS, (i) => cache.getAccessToken(keys[i % KEYS]!)));
    }
    const ratio = ours / base;
    return {
      name: '1. cache-hit getAccessToken, 10,000 resident keys ÷ awaited lru-cache lookup',
      target: '≤ 1.10×',
      figure: `${ratio.toFixed(2)}× the floor`,
      pass: ratio <= 1.1,
      notes:
        `best of ${ROUNDS} alternating rounds of ${ITERATIONS.toLocaleString('en')} sequential awaited calls each. ` +
        'Profiled: the floor is about 64 ns a call; `Date.now()` alone cost about 35 ns more, so the default clock now reads it ' +
        'at most once per 10 ms, as lru-cache does with `ttlResolution` (1.66× → about 1.14×). What remains is the clock ' +
        "closure, the store's method call and the freshness comparison, about 9 ns; no further cut was found without " +
        'dropping the freshness check itself. Not measured here: google-auth-library and @badgateway/oauth2-client side by side (not installed).',
    };
  },
};
