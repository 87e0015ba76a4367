import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import type { Redis } from 'ioredis';
import {
  CorruptRecordError,
  ReauthenticationRequiredError,
  StoreUnavailableError,
  TokenCache,
  type TokenRecord,
} from '@refreshkit/core';
import { TestRedis } from '../../../test/support/redis-server.js';
import { ScriptedEndpoint } from '../../../test/support/scripted-endpoint.js';
import { waitFor } from '../../../test/support/wait-for.js';
import { RedisTokenStore } from './redis-token-store.js';
import type { RedisTokenStoreOptions } from './redis-token-store-options.js';

let redis: TestRedis;
let admin: Redis;
const stores: RedisTokenStore[] = [];
let prefixSerial = 0;

beforeAll(async () => {
  redis = await TestRedis.start();
  admin = redis.client();
});
afterAll(async () => {
  admin.disconnect();
  await redis.stop();
});
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

/** A store on its own prefix, standing in for one process. */
function storeFor(prefix: string, options: Partial<RedisTokenStoreOptions> = {}): RedisTokenStore {
  const store = new RedisTokenStore({ redis: redis.url, prefix, lockPollIntervalMs: 20, ...options });
  stores.push(store);
  return store;
}

function freshPrefix(): string {
  return `test${++prefixSerial}-${Date.now()}:`;
}

function record(version: number, accessToken: string, refreshToken = `r-${accessToken}`): TokenRecord {
  const expiresAt = Date.now() + 3_600_000;
  return {
    tokens: { accessToken, refreshToken, expiresAt },
    version,
    refreshAt: expiresAt - 60_000,
    usableUntil: expiresAt,
  };
}

describe('RedisTokenStore records', () => {
  it('round-trips a record and keeps Infinity for unknown expiry', async () => {
    const prefix = freshPrefix();
    const store = storeFor(prefix);
    const forever: TokenRecord = {
      tokens: { accessToken: 'a' },
      version: 1,
      refreshAt: Infinity,
      usableUntil: Infinity,
    };
    expect(await store.compareAndSet('k', forever, undefined)).toBe(true);
    expect(await storeFor(prefix).get('k')).toEqual(forever);
  });

  it('never lets a writer holding an older version overwrite a newer record', async () => {
    const prefix = freshPrefix();
    const [first, second] = [storeFor(prefix), storeFor(prefix)];
    expect(await first.compareAndSet('k', record(1, 'one'), undefined)).toBe(true);
    expect(await second.compareAndSet('k', record(2, 'two'), 1)).toBe(true);
    // `first` still believes version 1 is current: its write is fenced off.
    expect(await first.compareAndSet('k', record(2, 'stale'), 1)).toBe(false);
    expect(await first.compareAndSet('k', record(1, 'again'), undefined)).toBe(false);
    expect((await first.get('k'))!.tokens.accessToken).toBe('two');
  });

  it('encrypts tokens at rest, round-trips, rotates keys, and rejects a wrong key with CorruptRecordError', async () => {
    const prefix = freshPrefix();
    const oldKey = { id: 'k1', key: randomBytes(32) };
    const newKey = { id: 'k2', key: randomBytes(32).toString('base64') };
    const writer = storeFor(prefix, { encryptionKey: oldKey });
    await writer.compareAndSet('k', record(1, 'SENTINEL-ACCESS', 'SENTINEL-REFRESH'), undefined);

    const raw = JSON.stringify(await admin.hgetall(`${prefix}{k}`));
    expect(raw).not.toContain('SENTINEL');

    const rotated = storeFor(prefix, { encryptionKey: [newKey, oldKey] });
    expect((await rotated.get('k'))!.tokens.refreshToken).toBe('SENTINEL-REFRESH');

    const wrong = storeFor(prefix, { encryptionKey: { id: 'k1', key: randomBytes(32) } });
    const error = await Promise.resolve(wrong.get('k')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptRecordError);
    expect((error as Error).message).toBe(
      'Stored record for key `k` is unreadable: decryption failed under key id `k1` (wrong key or tampered record)',
    );
    const plain = await Promise.resolve(storeFor(prefix).get('k')).catch((e: unknown) => e);
    expect(plain).toBeInstanceOf(CorruptRecordError);
  });

  it('refuses a record copied to another key (the key name is bound into the ciphertext)', async () => {
    const prefix = freshPrefix();
    const encryptionKey = { id: 'k1', key: randomBytes(32) };
    await storeFor(prefix, { encryptionKey }).compareAndSet('alice', record(1, 'alice-token'), undefined);
    await admin.copy(`${prefix}{alice}`, `${prefix}{mallory}`);
    await expect(Promise.resolve(storeFor(prefix, { encryptionKey }).get('mallory'))).rejects.toBeInstanceOf(
      CorruptRecordError,
    );
  });

  it.each([
    ['a bad version', { v: 'x', d: '{}' }],
    ['data that is not JSON', { v: '1', d: 'not json' }],
    ['tokens without an access token', { v: '1', d: '{"t":{"refreshToken":"r"},"r":1,"u":2}' }],
    ['a non-numeric schedule', { v: '1', d: '{"t":{"accessToken":"a"},"r":"soon","u":2}' }],
  ])('reports %s as CorruptRecordError, and a cache leaves it untouched', async (_name, fields) => {
    const prefix = freshPrefix();
    await admin.hset(`${prefix}{k}`, fields);
    const cache = new TokenCache({ endpoint: new ScriptedEndpoint(Date.now), store: storeFor(prefix) });
    await expect(cache.getAccessToken('k')).rejects.toBeInstanceOf(CorruptRecordError);
    expect(await admin.hgetall(`${prefix}{k}`)).toEqual(fields);
  });

  it('keeps keys Redis-Cluster-safe: record, lock and channel share one hash tag', async () => {
    const prefix = freshPrefix();
    const store = storeFor(prefix);
    await store.compareAndSet('user:42', record(1, 'a'), undefined);
    const lock = await store.lock('user:42');
    const keys = await admin.keys(`${prefix}*`);
    expect(keys.sort()).toEqual([`${prefix}{user:42}`, `${prefix}{user:42}:lock`]);
    await lock.release();
    expect(await admin.exists(`${prefix}{user:42}:lock`)).toBe(0);
  });

  it('shows neither tokens nor key material in inspect', async () => {
    const store = storeFor(freshPrefix(), { encryptionKey: { id: 'k1', key: Buffer.alloc(32, 7) } });
    await store.compareAndSet('k', record(1, 'SENTINEL-INSPECT'), undefined);
    expect(inspect(store, { depth: 10, showHidden: true })).not.toContain('SENTINEL');
    expect(inspect(store, { depth: 10, showHidden: true })).not.toContain(Buffer.alloc(32, 7).toString('base64'));
  });

  it('rejects bad options with a TypeError naming the option', () => {
    expect(() => new RedisTokenStore({ redis: 42 as never })).toThrow('Expected `redis` to be an ioredis client');
    expect(() => new RedisTokenStore({ redis: admin, lockTtlMs: 5 })).toThrow(
      'Expected `lockTtlMs` to be an integer from 100 to 600000, got `5` (number)',
    );
    expect(() => new RedisTokenStore({ redis: admin, encryptionKey: { id: 'k', key: Buffer.alloc(16) } })).toThrow(
      'Expected `encryptionKey[0].key` to be 32 bytes, got 16 bytes',
    );
  });
});

describe('RedisTokenStore across processes', () => {
  async function twoProcesses(options: Partial<RedisTokenStoreOptions> = {}) {
    const prefix = freshPrefix();
    const endpoint = new ScriptedEndpoint(Date.now);
    const caches = [0, 1].map(() => new TokenCache({ endpoint, store: storeFor(prefix, options) }));
    return { prefix, endpoint, caches: caches as [TokenCache, TokenCache] };
  }

  it('coalesces concurrent refreshes in two caches sharing Redis into one endpoint call', async () => {
    const { endpoint, caches } = await twoProcesses();
    await caches[0].set('k', { accessToken: 'old', refreshToken: 'refresh-old', expiresAt: Date.now() - 1 });
    endpoint.hold();
    const callers = [...caches, ...caches].flatMap((cache) =>
      Array.from({ length: 50 }, () => cache.getAccessToken('k')),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    endpoint.release();
    const tokens = await Promise.all(callers);
    expect(new Set(tokens)).toEqual(new Set(['access-1']));
    expect(endpoint.calls).toEqual([{ grant: 'refresh_token', refreshToken: 'refresh-old' }]);
  });

  it('lets another process see a refresh at its next refresh-window check without a second endpoint call', async () => {
    const { endpoint, caches } = await twoProcesses();
    await caches[0].set('k', { accessToken: 'old', refreshToken: 'refresh-old', expiresAt: Date.now() + 3_600_000 });
    expect(await caches[1].getAccessToken('k')).toBe('old'); // now in process 1's L1
    expect(await caches[0].getAccessToken('k', { forceRefresh: true })).toBe('access-1');
    await caches[1].invalidate('k', 'old'); // process 1 had only its L1 copy: the write is fenced, then re-read
    expect(await caches[1].getAccessToken('k')).toBe('access-1');
    expect(endpoint.calls).toHaveLength(1);
  });

  it('takes over after the lock TTL when the holder dies mid-refresh, leaving a readable record', async () => {
    const { prefix, endpoint, caches } = await twoProcesses({ lockTtlMs: 300 });
    await caches[0].set('k', { accessToken: 'old', refreshToken: 'refresh-old', expiresAt: Date.now() - 1 });
    // A "dead" holder: takes the lock and never releases it.
    const deadHolder = storeFor(prefix, { lockTtlMs: 300 });
    await deadHolder.lock('k');
    const started = Date.now();
    expect(await caches[1].getAccessToken('k')).toBe('access-1');
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(endpoint.calls).toHaveLength(1);
    expect((await storeFor(prefix).get('k'))!.tokens.refreshToken).toBe('refresh-1');
  });

  it('sees tokens another process set after the grant died, without calling the endpoint for the dead grant', async () => {
    const { endpoint, caches } = await twoProcesses();
    await caches[0].set('k', { accessToken: 'old', refreshToken: 'refresh-old', expiresAt: Date.now() - 1 });
    endpoint.next = () => Promise.reject(new ReauthenticationRequiredError('invalid_grant'));
    await expect(caches[0].getAccessToken('k')).rejects.toBeInstanceOf(ReauthenticationRequiredError);
    await expect(caches[0].getAccessToken('k')).rejects.toBeInstanceOf(ReauthenticationRequiredError);
    expect(endpoint.calls).toHaveLength(1);
    // The user signs in again, through the other process.
    await caches[1].set('k', { accessToken: 'after-login', refreshToken: 'r2', expiresAt: Date.now() + 3_600_000 });
    expect(await caches[0].getAccessToken('k')).toBe('after-login');
    expect(endpoint.calls).toHaveLength(1);
  });

  it('adopts the newer record instead of declaring the grant dead when it lost a rotation race', async () => {
    const { prefix, endpoint, caches } = await twoProcesses();
    await caches[0].set('k', { accessToken: 'old', refreshToken: 'refresh-old', expiresAt: Date.now() - 1 });
    const other = storeFor(prefix);
    endpoint.next = async () => {
      // Another process, whose lock had lapsed, rotated first and stored its record.
      const current = (await other.get('k'))!;
      await other.compareAndSet('k', record(current.version + 1, 'theirs'), current.version);
      throw new ReauthenticationRequiredError('invalid_grant');
    };
    expect(await caches[0].getAccessToken('k')).toBe('theirs');
  });
});

describe('RedisTokenStore outage', () => {
  it('serves valid tokens from L1 while Redis is down, fails refreshes with StoreUnavailableError, and recovers', async () => {
    if (!redis.owned) return; // cannot restart a server given by REDIS_URL
    const prefix = freshPrefix();
    const endpoint = new ScriptedEndpoint(Date.now);
    const store = storeFor(prefix, { operationTimeoutMs: 200 });
    const cache = new TokenCache({ endpoint, store });
    await cache.set('valid', { accessToken: 'still-valid', refreshToken: 'r1', expiresAt: Date.now() + 3_600_000 });
    await cache.set('expired', { accessToken: 'gone', refreshToken: 'r2', expiresAt: Date.now() + 3_600_000 });
    await cache.getAccessToken('expired');

    await redis.stop();
    try {
      expect(await cache.getAccessToken('valid')).toBe('still-valid');
      await cache.invalidate('expired').catch(() => false);
      const error = await cache.getAccessToken('expired', { forceRefresh: true }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(endpoint.calls).toHaveLength(0);
      expect(await cache.getAccessToken('valid')).toBe('still-valid');
    } finally {
      await redis.restart();
    }
    await waitFor(
      async () => (await cache.getAccessToken('expired', { forceRefresh: true }).catch(() => '')) !== '',
      'A refresh after Redis came back',
      { timeoutMs: 10_000 },
    );
    expect(endpoint.calls).toHaveLength(1);
  });
});
