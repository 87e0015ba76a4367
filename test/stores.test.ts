// The TokenStore conformance suite (test/stores/store-conformance.ts) run
// against every store this repository ships.
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { MemoryStore } from '@refreshkit/core';
import { PostgresTokenStore } from '@refreshkit/postgres';
import { RedisTokenStore } from '@refreshkit/redis';
import { describeStoreConformance } from './stores/store-conformance.js';
import { TestPostgres } from './support/postgres-server.js';
import { TestRedisCluster } from './support/redis-cluster.js';
import { TestRedis } from './support/redis-server.js';

describeStoreConformance('MemoryStore', {
  shared: false,
  locks: false,
  corrupt: false,
  dueBefore: true,
  create: async () => ({ store: new MemoryStore(), close: async () => {} }),
});

/** Finds the Redis keys the store wrote for `key` (its record hash and lock), whatever their naming. */
async function redisKeysOf(client: Redis, prefix: string, key: string): Promise<string[]> {
  const all = await client.keys(`${prefix}*`);
  return all.filter((name) => name.includes(key));
}

describeStoreConformance('RedisTokenStore (single node)', {
  shared: true,
  locks: true,
  tookOver: true,
  corrupt: true,
  dueBefore: true,
  create: async () => {
    const server = await TestRedis.start();
    const clients = [server.client(), server.client(), server.client()];
    const [a, b, admin] = clients as [Redis, Redis, Redis];
    const prefix = `conformance:${process.pid}:`;
    const options = { prefix, lockPollIntervalMs: 20 };
    const store = new RedisTokenStore({ redis: a, ...options });
    const peer = new RedisTokenStore({ redis: b, ...options });
    return {
      store,
      peer,
      corrupt: async (key) => {
        for (const name of await redisKeysOf(admin, prefix, key)) {
          if ((await admin.type(name)) !== 'hash') continue;
          await admin.hset(name, 'd', '{not json');
          return Number(await admin.hget(name, 'v'));
        }
        throw new Error('no record hash found');
      },
      expireLock: async (key) => {
        // The lock is the string with a lifetime (a companion without one records its holder).
        for (const name of await redisKeysOf(admin, prefix, key)) {
          if ((await admin.type(name)) === 'string' && (await admin.pttl(name)) > 0) await admin.del(name);
        }
      },
      close: async () => {
        await Promise.all([store.close(), peer.close()]);
        for (const client of clients) client.disconnect();
        if (server.owned) await server.stop();
      },
    };
  },
});

describeStoreConformance('RedisTokenStore (Cluster, three masters)', {
  shared: true,
  locks: true,
  tookOver: true,
  corrupt: true,
  dueBefore: true,
  create: async () => {
    const cluster = await TestRedisCluster.start();
    const clients = [cluster.client(), cluster.client(), cluster.client()];
    const [a, b, admin] = clients;
    const prefix = `conformance:${process.pid}:`;
    const options = { prefix, lockPollIntervalMs: 20 };
    const store = new RedisTokenStore({ redis: a!, ...options });
    const peer = new RedisTokenStore({ redis: b!, ...options });
    // A Cluster client routes by slot, so the names are addressed directly (a
    // KEYS scan would see one node only): the record hash and its lock.
    const record = (key: string) => `${prefix}{${key}}`;
    return {
      store,
      peer,
      corrupt: async (key) => {
        await admin!.hset(record(key), 'd', '{not json');
        return Number(await admin!.hget(record(key), 'v'));
      },
      expireLock: async (key) => {
        await admin!.del(`${record(key)}:lock`);
      },
      close: async () => {
        await Promise.all([store.close(), peer.close()]);
        for (const client of clients) client.disconnect();
        await cluster.stop();
      },
    };
  },
});

describeStoreConformance('PostgresTokenStore', {
  shared: true,
  locks: true,
  tookOver: true,
  corrupt: true,
  dueBefore: true,
  create: async () => {
    const server = await TestPostgres.start();
    const pools: pg.Pool[] = [server.pool(), server.pool(), server.pool()];
    const [a, b, admin] = pools as [pg.Pool, pg.Pool, pg.Pool];
    const table = `conformance_${process.pid}`;
    const options = { table, lockPollIntervalMs: 20, lockTtlMs: 2_000 };
    const store = new PostgresTokenStore({ pool: a, ...options });
    const peer = new PostgresTokenStore({ pool: b, ...options });
    await store.migrate();
    return {
      store,
      peer,
      corrupt: async (key) => {
        const { rows } = await admin.query(`UPDATE ${table} SET data = '{not json' WHERE key = $1 RETURNING version`, [
          key,
        ]);
        return Number((rows[0] as { version: string }).version);
      },
      expireLock: async (key) => {
        await admin.query(`UPDATE ${table}_locks SET expires_at = now() - interval '1 second' WHERE key = $1`, [key]);
      },
      close: async () => {
        await Promise.all([store.close(), peer.close()]);
        await Promise.all(pools.map((pool) => pool.end()));
        await server.destroy();
      },
    };
  },
});
