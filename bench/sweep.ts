// Benchmark 8: a keep-alive sweep over 100,000 grants in Redis, 1,000 of them
// due. The sweep must touch on the order of the due grants (the store's
// sorted-set index, not a scan), and never exceed the endpoint limit.
import { TokenCache, type TokenEndpoint, type TokenStore } from '@refreshkit/core';
import { RedisTokenStore } from '@refreshkit/redis';
import { TestRedis } from '../test/support/redis-server.js';
import type { Benchmark } from './harness.js';

const GRANTS = 100_000;
const DUE = 1_000;
const LIMIT = 8;
const HOUR = 3_600_000;

/** Wraps a store so that every TokenStore call made through it is counted. */
function counted(store: TokenStore): { store: TokenStore; calls: () => number } {
  let calls = 0;
  const wrapped = new Proxy(store, {
    get(target, name, receiver) {
      const value: unknown = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: wrapped, calls: () => calls };
}

export const sweep: Benchmark = {
  id: 'sweep',
  async run() {
    const redis = await TestRedis.start();
    // An injected clock: grants are written now and swept 20 minutes later.
    let now = Date.now();
    let inFlight = 0;
    let maxInFlight = 0;
    let endpointCalls = 0;
    const endpoint: TokenEndpoint = {
      async refresh(refreshToken) {
        endpointCalls++;
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 2));
        inFlight--;
        return { accessToken: `fresh-${refreshToken}`, refreshToken: `${refreshToken}+`, expiresAt: now + HOUR };
      },
      clientCredentials: () => Promise.reject(new Error('not used')),
    };
    const redisStore = new RedisTokenStore({ redis: redis.url, prefix: `bench-sweep-${Date.now()}:` });
    const { store, calls } = counted(redisStore);
    const cache = new TokenCache({ endpoint, store, endpointConcurrency: LIMIT, now: () => now });
    for (let start = 0; start < GRANTS; start += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, GRANTS - start) }, (_, offset) => {
          const i = start + offset;
          // The due ones' refresh tokens expire in 30 minutes (due half-way, after 15); the rest in 90 days.
          const refreshTokenExpiresAt = now + (i < DUE ? 30 * 60_000 : 90 * 24 * HOUR);
          return cache.set(`grant-${i}`, {
            accessToken: `a-${i}`,
            refreshToken: `r-${i}`,
            expiresAt: now + HOUR,
            refreshTokenExpiresAt,
          });
        }),
      );
    }
    now += 20 * 60_000;
    const before = calls();
    const started = performance.now();
    const result = await cache.sweep();
    const seconds = (performance.now() - started) / 1000;
    const operations = calls() - before;
    await cache.close();
    await redisStore.close();
    if (redis.owned) await redis.stop();
    const perDue = operations / DUE;
    return {
      name: '8. keep-alive sweep, 100,000 grants in Redis, 1,000 due: store operations per due grant; endpoint calls',
      target: 'on the order of the due grants; ≤ the limit',
      figure: `${perDue.toFixed(1)} store operations per due grant (${operations.toLocaleString('en')} in all); ${endpointCalls} endpoint calls for ${result.due} due, ${maxInFlight} in flight at most (limit ${LIMIT})`,
      pass: result.refreshed === DUE && endpointCalls === DUE && perDue <= 10 && maxInFlight <= LIMIT,
      notes:
        `store operations are TokenStore calls (each one Redis round trip or one script; a lock is one call to take and one to release), counted through a proxy; ` +
        `the due keys come from one sorted-set range query per batch of 1,000; the sweep took ${seconds.toFixed(1)} s on this machine, for scale only`,
    };
  },
};
