import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TokenCache } from '@refreshkit/core';
import { RedisTokenStore } from '@refreshkit/redis';
import { IOREDIS_MAJORS, type IoredisMajor } from './support/redis-clients.js';
import { TestRedisCluster } from './support/redis-cluster.js';
import { ScriptedEndpoint } from './support/scripted-endpoint.js';
import { waitFor } from './support/wait-for.js';

let cluster: TestRedisCluster;
const clients: { disconnect(): void }[] = [];
beforeAll(async () => {
  cluster = await TestRedisCluster.start();
});
afterAll(async () => {
  for (const client of clients) client.disconnect();
  await cluster?.stop();
});

/** A cache in its own "process": its own Cluster client and store. */
function processOnCluster(
  endpoint: ScriptedEndpoint,
  major: IoredisMajor,
  options: { encryptionKey?: { id: string; key: Buffer } } = {},
) {
  const client = cluster.client(major);
  clients.push(client);
  const prefix = `cluster-${major.module}:`;
  const store = new RedisTokenStore({ redis: client, prefix, lockPollIntervalMs: 20, ...options });
  return { cache: new TokenCache({ endpoint, store }), store };
}

describe.each(IOREDIS_MAJORS)('RedisTokenStore on a real Redis Cluster ($name Cluster client)', (major) => {
  it('coalesces refreshes of keys spread over every node into one endpoint call per key', async () => {
    const endpoint = new ScriptedEndpoint(Date.now);
    const processes = [processOnCluster(endpoint, major), processOnCluster(endpoint, major)];
    // Enough keys that their hash tags land in slots on all three masters.
    const keys = Array.from({ length: 12 }, (_, i) => `user-${i}`);
    for (const key of keys) {
      await processes[0]!.cache.set(key, {
        accessToken: `old-${key}`,
        refreshToken: `refresh-${key}`,
        expiresAt: Date.now() - 1,
      });
    }
    endpoint.hold();
    const callers = keys.flatMap((key) =>
      processes.flatMap(({ cache }) => Array.from({ length: 10 }, () => cache.getAccessToken(key))),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    endpoint.release();
    await Promise.all(callers);
    expect(endpoint.calls.map((c) => c.refreshToken).sort()).toEqual(keys.map((k) => `refresh-${k}`).sort());
    await Promise.all(processes.map(({ store }) => store.close()));
  });

  it('keeps fencing and encryption working across slots', async () => {
    const endpoint = new ScriptedEndpoint(Date.now);
    const encryptionKey = { id: 'k1', key: Buffer.alloc(32, 9) };
    const [a, b] = [
      processOnCluster(endpoint, major, { encryptionKey }),
      processOnCluster(endpoint, major, { encryptionKey }),
    ];
    await a.cache.set('fenced', { accessToken: 'first', refreshToken: 'r1', expiresAt: Date.now() + 3_600_000 });
    const seen = (await b.store.get('fenced'))!;
    await a.cache.set('fenced', { accessToken: 'second', refreshToken: 'r2', expiresAt: Date.now() + 3_600_000 });
    expect(await b.store.compareAndSet('fenced', { ...seen, version: seen.version + 1 }, seen.version)).toBe(false);
    expect(await b.cache.getAccessToken('fenced')).toBe('second');
    await Promise.all([a.store.close(), b.store.close()]);
  });

  it('drops another process’s L1 copy when a record on any node is deleted', async () => {
    const endpoint = new ScriptedEndpoint(Date.now);
    const [a, b] = [processOnCluster(endpoint, major), processOnCluster(endpoint, major)];
    const keys = Array.from({ length: 12 }, (_, i) => `deleted-${i}`);
    for (const key of keys) {
      await a.cache.set(key, { accessToken: `token-${key}`, refreshToken: 'r', expiresAt: Date.now() + 3_600_000 });
      expect(await b.cache.getAccessToken(key)).toBe(`token-${key}`);
    }
    for (const key of keys) await a.cache.delete(key);
    await waitFor(
      async () => (await Promise.all(keys.map((key) => b.store.get(key)))).every((found) => found === undefined),
      'Every delete, seen by the other process',
    );
    await Promise.all([a.store.close(), b.store.close()]);
  });
});
