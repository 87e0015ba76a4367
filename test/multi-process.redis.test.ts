import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { OAuth2Endpoint, TokenCache } from '@refreshkit/core';
import { AuthorizationServer, BASIC_CLIENT } from '@refreshkit/example-sandbox';
import { RedisTokenStore } from '@refreshkit/redis';
import { TestRedis } from './support/redis-server.js';
import { RotatingTokenServer } from './support/rotating-token-server.js';
import { spawnCacheProcess } from './support/spawn-cache-process.js';
import { waitFor } from './support/wait-for.js';

const PROCESSES = 4;
const LIFETIME_SECONDS = 2;
const DURATION_MS = 6_000;

let redis: TestRedis;
beforeAll(async () => {
  redis = await TestRedis.start();
});
afterAll(() => redis.stop());

let prefixSerial = 0;
const freshPrefix = () => `mp${++prefixSerial}-${Date.now()}:`;

/** Seeds each key's first token set through a parent-side cache on the same Redis. */
async function seed(
  prefix: string,
  tokenUrl: string,
  tokens: Map<string, { accessToken: string; refreshToken: string; expiresAt: number }>,
) {
  const store = new RedisTokenStore({ redis: redis.url, prefix });
  const cache = new TokenCache({
    endpoint: new OAuth2Endpoint({
      tokenUrl,
      clientId: BASIC_CLIENT.clientId,
      clientSecret: BASIC_CLIENT.clientSecret,
    }),
    store,
  });
  for (const [key, set] of tokens) await cache.set(key, set);
  return { cache, store };
}

describe('four processes sharing RedisTokenStore', () => {
  it('hammer the same keys across several expiries (two on ioredis 6, two on ioredis 5): no reuse, no failure, one refresh per key per expiry', async () => {
    const server = await RotatingTokenServer.start(LIFETIME_SECONDS);
    const prefix = freshPrefix();
    const keys = ['k1', 'k2', 'k3', 'k4', 'k5'];
    const initial = new Map(
      keys.map((key) => {
        const issued = server.issue(key);
        return [
          key,
          { accessToken: issued.access_token, refreshToken: issued.refresh_token, expiresAt: Date.now() + 1_000 },
        ];
      }),
    );
    const { store } = await seed(prefix, server.tokenUrl, initial);
    try {
      // Half the processes on ioredis 6, half on ioredis 5: one record format, one lock, across majors.
      const children = Array.from({ length: PROCESSES }, (_, index) =>
        spawnCacheProcess({
          store: { kind: 'redis', url: redis.url, prefix, ioredis: index % 2 === 0 ? 'ioredis' : 'ioredis5' },
          tokenUrl: server.tokenUrl,
          clientId: BASIC_CLIENT.clientId,
          clientSecret: BASIC_CLIENT.clientSecret,
          keys,
          durationMs: DURATION_MS,
          concurrency: 10,
          lockTtlMs: 5_000,
        }),
      );
      const reports = await Promise.all(children.map((c) => c.report));

      expect(server.reuses).toBe(0);
      expect(keys.filter((key) => server.isRevoked(key))).toEqual([]);
      expect(reports.map((r) => r.failures)).toEqual(Array(PROCESSES).fill(0));
      expect(reports.reduce((sum, r) => sum + r.calls, 0)).toBeGreaterThan(1_000);
      // Tokens count as living 1 s (2 s less the rounding second); the refresh
      // window is at most half of that. So each key is refreshed at most once
      // per 0.5 s, and at least once per 1 s, across all four processes.
      const seconds = (DURATION_MS + 1_000) / 1_000;
      for (const key of keys) {
        const refreshes = server.refreshesByGrant.get(key) ?? 0;
        expect(refreshes).toBeGreaterThanOrEqual(Math.floor(seconds / 1) - 2);
        expect(refreshes).toBeLessThanOrEqual(Math.ceil(seconds / 0.5) + 1);
      }
      const total = reports.reduce((sum, r) => sum + r.refreshes, 0);
      expect(total).toBe([...server.refreshesByGrant.values()].reduce((a, b) => a + b, 0));
    } finally {
      await store.close();
      await server.close();
    }
  });

  it('survive a lock holder killed mid-refresh: another process takes over after the lock TTL', async () => {
    const server = await RotatingTokenServer.start(60);
    const prefix = freshPrefix();
    const issued = server.issue('victim');
    const { cache, store } = await seed(
      prefix,
      server.tokenUrl,
      new Map([
        ['victim', { accessToken: issued.access_token, refreshToken: issued.refresh_token, expiresAt: Date.now() - 1 }],
      ]),
    );
    // The child's refresh hangs at the endpoint while the child holds the lock.
    let hangs = 1;
    server.hang = () => hangs-- > 0;
    const doomed = spawnCacheProcess({
      store: { kind: 'redis', url: redis.url, prefix },
      tokenUrl: server.tokenUrl,
      clientId: BASIC_CLIENT.clientId,
      clientSecret: BASIC_CLIENT.clientSecret,
      keys: ['victim'],
      durationMs: 60_000,
      concurrency: 1,
      lockTtlMs: 1_500,
    });
    doomed.report.catch(() => {});
    try {
      await waitFor(async () => server.server.requests.length > 0, "The doomed process's refresh", {
        timeoutMs: 20_000,
        intervalMs: 20,
      });
      expect(server.server.requests).toHaveLength(1);
      doomed.child.kill('SIGKILL');

      // Takes over once the dead holder's lock expires (how soon is lockTtlMs's to bound, not this test's).
      const token = await cache.getAccessToken('victim');
      expect(token).toMatch(/^at-victim-/);
      expect(server.reuses).toBe(0);
      const reader = new RedisTokenStore({ redis: redis.url, prefix });
      const stored = await reader.get('victim');
      await reader.close();
      expect(stored?.tokens.accessToken).toBe(token);
      expect(stored?.tokens.refreshToken).toMatch(/^rt-victim-/);
    } finally {
      doomed.child.kill('SIGKILL');
      await store.close();
      await server.close();
    }
  });
});

describe('four processes against a real oidc-provider (rotation always on)', () => {
  it('never present a refresh token twice, and every final token introspects as active', async () => {
    const authorizationServer = await AuthorizationServer.start({ accessTokenTtlSeconds: 2 });
    const prefix = freshPrefix();
    const keys = ['alice', 'bob', 'carol'];
    const initial = new Map<string, { accessToken: string; refreshToken: string; expiresAt: number }>();
    for (const key of keys) {
      const tokens = await authorizationServer.login(key);
      initial.set(key, {
        accessToken: tokens.accessToken,
        refreshToken: tokens.refreshToken!,
        expiresAt: tokens.expiresAt!,
      });
    }
    const { cache, store } = await seed(prefix, authorizationServer.tokenUrl, initial);
    try {
      const children = Array.from({ length: PROCESSES }, () =>
        spawnCacheProcess({
          store: { kind: 'redis', url: redis.url, prefix },
          tokenUrl: authorizationServer.tokenUrl,
          clientId: BASIC_CLIENT.clientId,
          clientSecret: BASIC_CLIENT.clientSecret,
          keys,
          durationMs: 5_000,
          concurrency: 8,
          lockTtlMs: 5_000,
        }),
      );
      const reports = await Promise.all(children.map((c) => c.report));
      expect(authorizationServer.stats.refreshTokenReuses).toBe(0);
      expect(reports.map((r) => r.failures)).toEqual(Array(PROCESSES).fill(0));
      expect(authorizationServer.stats.refreshGrants).toBeGreaterThanOrEqual(keys.length * 3);
      for (const key of keys) {
        const token = await cache.getAccessToken(key, { forceRefresh: true });
        expect((await authorizationServer.introspect(token)).active).toBe(true);
      }
    } finally {
      await store.close();
      await authorizationServer.close();
    }
  });
});
