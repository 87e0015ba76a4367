import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TokenCache } from '@refreshkit/core';
import { RedisTokenStore } from '@refreshkit/redis';
import { IOREDIS_MAJORS, type IoredisMajor } from './support/redis-clients.js';
import { TestRedisSentinel } from './support/redis-sentinel.js';
import { ScriptedEndpoint } from './support/scripted-endpoint.js';

let sentinel: TestRedisSentinel;
const clients: { disconnect(): void }[] = [];
beforeAll(async () => {
  sentinel = await TestRedisSentinel.start();
});
afterAll(async () => {
  for (const client of clients) client.disconnect();
  await sentinel?.stop();
});

/** A cache in its own "process": its own Sentinel-backed client and store. */
function processOnSentinel(endpoint: ScriptedEndpoint, major: IoredisMajor) {
  const client = sentinel.client(major);
  clients.push(client);
  const store = new RedisTokenStore({ redis: client, prefix: `sentinel-${major.module}:`, lockPollIntervalMs: 20 });
  return { cache: new TokenCache({ endpoint, store }), store };
}

/** Retries `attempt` while a failover settles (connections move to the new master), for at most 15 s. */
async function onceSettled<T>(attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describe.each(IOREDIS_MAJORS)('RedisTokenStore behind Redis Sentinel (a Sentinel-backed $name client)', (major) => {
  it('makes one refresh across processes, and after a failover presents the rotated refresh token once', async () => {
    const endpoint = new ScriptedEndpoint(Date.now);
    const [a, b] = [processOnSentinel(endpoint, major), processOnSentinel(endpoint, major)];
    await a.cache.set('alice', { accessToken: 'old', refreshToken: 'refresh-0', expiresAt: Date.now() - 1 });

    endpoint.hold();
    const callers = [a, b].flatMap(({ cache }) => Array.from({ length: 10 }, () => cache.getAccessToken('alice')));
    await new Promise((resolve) => setTimeout(resolve, 200));
    endpoint.release();
    expect(new Set(await Promise.all(callers))).toEqual(new Set(['access-1']));

    const masterBefore = await sentinel.masterPort();
    await sentinel.replicated();
    await sentinel.failover();
    expect(await sentinel.masterPort()).not.toBe(masterBefore);

    // The rotated refresh token survived on the new master: a forced refresh
    // presents it, once, and a process started afterwards reads the result.
    await onceSettled(() => b.cache.invalidate('alice'));
    expect(await onceSettled(() => b.cache.getAccessToken('alice'))).toBe('access-2');
    const late = processOnSentinel(endpoint, major);
    expect(await onceSettled(() => late.cache.getAccessToken('alice'))).toBe('access-2');
    expect(endpoint.calls.map((call) => call.refreshToken)).toEqual(['refresh-0', 'refresh-1']);
    await Promise.all([a.store.close(), b.store.close(), late.store.close()]);
  });
});
