import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TokenCache } from '@refreshkit/core';
import { AuthorizationServer } from '@refreshkit/example-sandbox';
import { RedisTokenStore } from '@refreshkit/redis';
import { TestRedis } from './support/redis-server.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Refresh tokens here die after 3 s without use; the idle period below is more than twice that. */
let server: AuthorizationServer;
let redis: TestRedis;
beforeAll(async () => {
  [server, redis] = await Promise.all([
    AuthorizationServer.start({ accessTokenTtlSeconds: 2, refreshTokenIdleSeconds: 3 }),
    TestRedis.start(),
  ]);
});
afterAll(async () => {
  await server?.close();
  if (redis?.owned) await redis.stop();
});

describe('keep-alive sweeps against oidc-provider with idle-expiring refresh tokens', () => {
  it('keeps a grant alive across an idle period longer than its refresh token’s idle lifetime; without sweeps it dies', async () => {
    const swept = new TokenCache({ endpoint: server.endpointFor(), keepAlive: { intervalMs: 60_000, leadMs: 2_000 } });
    const unswept = new TokenCache({ endpoint: server.endpointFor() });
    await swept.set('user', await server.login('kept-alive'));
    await unswept.set('user', await server.login('left-idle'));
    const startedAt = Date.now();
    let refreshed = 0;
    // Nobody asks for either token for 7 s; only the swept cache runs its sweep.
    while (Date.now() - startedAt < 7_000) {
      await sleep(500);
      refreshed += (await swept.sweep()).refreshed;
    }
    expect(refreshed).toBeGreaterThanOrEqual(2);
    const token = await swept.getAccessToken('user', { forceRefresh: true });
    expect((await server.introspect(token)).active).toBe(true);
    expect(await swept.health('user')).toMatchObject({ state: 'healthy' });

    await expect(unswept.getAccessToken('user')).rejects.toMatchObject({ code: 'ERR_REAUTHENTICATION_REQUIRED' });
    expect(await unswept.health('user')).toMatchObject({ state: 'dead' });
    await Promise.all([swept.close(), unswept.close()]);
  }, 20_000);

  it('keeps a grant alive with two processes sweeping one Redis: each refresh once, no refresh token presented twice', async () => {
    const prefix = `keep-alive-${Date.now()}:`;
    const stores = [0, 1].map(() => new RedisTokenStore({ redis: redis.url, prefix, lockPollIntervalMs: 20 }));
    const caches = stores.map(
      (store) =>
        new TokenCache({ endpoint: server.endpointFor(), store, keepAlive: { intervalMs: 60_000, leadMs: 2_000 } }),
    );
    await caches[0]!.set('user', await server.login('kept-alive-shared'));
    const reusesBefore = server.stats.refreshTokenReuses;
    const startedAt = Date.now();
    let refreshed = 0;
    // Both processes sweep the shared store all through an idle period of more than twice the refresh token's life.
    while (Date.now() - startedAt < 7_000) {
      await sleep(500);
      const passes = await Promise.all(caches.map((cache) => cache.sweep()));
      refreshed += passes.reduce((sum, pass) => sum + pass.refreshed, 0);
    }
    expect(refreshed).toBeGreaterThanOrEqual(2);
    expect(server.stats.refreshTokenReuses).toBe(reusesBefore);
    const token = await caches[1]!.getAccessToken('user', { forceRefresh: true });
    expect((await server.introspect(token)).active).toBe(true);
    expect(await caches[0]!.health('user')).toMatchObject({ state: 'healthy' });
    await Promise.all(caches.map((cache) => cache.close()));
    await Promise.all(stores.map((store) => store.close()));
  }, 20_000);
});
