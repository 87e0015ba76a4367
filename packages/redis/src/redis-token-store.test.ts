import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import {
  CorruptRecordError,
  ReauthenticationRequiredError,
  StoreUnavailableError,
  TokenCache,
  type TokenRecord,
} from '@refreshkit/core';
import { IOREDIS_MAJORS } from '../../../test/support/redis-clients.js';
import { TestRedis } from '../../../test/support/redis-server.js';
import { ManualClock, ScriptedEndpoint } from '../../../test/support/scripted-endpoint.js';
import { waitFor } from '../../../test/support/wait-for.js';
import { RedisTokenStore } from './redis-token-store.js';
import type { RedisTokenStoreOptions } from './redis-token-store-options.js';

let redis: TestRedis;
/**
 * For tests that restart or pause the server: they need one the suite
 * started, so they are skipped (and reported as skipped) under `REDIS_URL`.
 */
const itWithOwnServer = process.env.REDIS_URL ? it.skip : it;
let admin: ReturnType<TestRedis['client']>;
const stores: RedisTokenStore[] = [];
const clients: { disconnect(): void }[] = [];
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
  for (const client of clients.splice(0)) client.disconnect();
});

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

describe.each(IOREDIS_MAJORS)('RedisTokenStore on $name', (major) => {
  /** A store on its own client, standing in for one process. */
  function storeFor(prefix: string, options: Partial<RedisTokenStoreOptions> = {}): RedisTokenStore {
    const client = major.redis(redis.url, { maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    clients.push(client);
    const store = new RedisTokenStore({ redis: client, prefix, lockPollIntervalMs: 20, ...options });
    stores.push(store);
    return store;
  }

  describe('grant lifecycle', () => {
    it('round-trips grant health and the keep-alive due time; a record written without them reads as healthy', async () => {
      const prefix = freshPrefix();
      const store = storeFor(prefix);
      const failing: TokenRecord = {
        ...record(1, 'a'),
        health: {
          state: 'failing',
          code: 'ERR_TOKEN_ENDPOINT_UNAVAILABLE',
          oauthError: 'temporarily_unavailable',
          since: 1_000,
          failures: 3,
          nextAttemptAt: 5_000,
        },
        sweepAt: 5_000,
      };
      expect(await store.compareAndSet('k', failing, undefined)).toBe(true);
      expect(await storeFor(prefix).get('k', { fresh: true })).toEqual(failing);
      // As an older release wrote it: no `h`, no `s`.
      const old = JSON.stringify({ t: { accessToken: 'old', refreshToken: 'r' }, r: 1, u: null });
      await admin.hset(`${prefix}{legacy}`, 'v', '1', 'd', old);
      const cache = new TokenCache({ endpoint: new ScriptedEndpoint(Date.now), store: storeFor(prefix) });
      expect(await cache.health('legacy')).toEqual({ state: 'healthy', failures: 0 });
      expect(await cache.health('k')).toMatchObject({ state: 'failing', failures: 3, nextAttemptAt: 5_000 });
      await cache.close();
    });

    it('shows every process the same health: a failure in one is seen by the other, and so is recovery', async () => {
      const prefix = freshPrefix();
      const clock = new ManualClock(Date.now());
      const endpoint = new ScriptedEndpoint(clock.now);
      const [a, b] = [0, 1].map(() => new TokenCache({ endpoint, store: storeFor(prefix), now: clock.now }));
      const seen: string[] = [];
      b!.on('grantRecovered', ({ key }) => seen.push(key));
      await a!.set('k', { accessToken: 'a0', refreshToken: 'r0', expiresAt: clock.time + 1_000 });
      clock.advance(1_000);
      endpoint.next = () => {
        throw new ReauthenticationRequiredError('invalid_grant');
      };
      await expect(a!.getAccessToken('k')).rejects.toBeInstanceOf(ReauthenticationRequiredError);
      expect(await b!.health('k')).toMatchObject({ state: 'dead', oauthError: 'invalid_grant' });
      endpoint.next = undefined;
      await b!.set('k', { accessToken: 'a1', refreshToken: 'r1', expiresAt: clock.time + 60_000 });
      expect(await a!.health('k')).toMatchObject({ state: 'healthy' });
      expect(seen).toEqual(['k']);
      await Promise.all([a!.close(), b!.close()]);
    });

    it('lists due keys from a sorted-set index kept by every write and delete', async () => {
      const prefix = freshPrefix();
      const store = storeFor(prefix);
      await store.compareAndSet('early', { ...record(1, 'a'), sweepAt: 1_000 }, undefined);
      await store.compareAndSet('late', { ...record(1, 'b'), sweepAt: 9_000 }, undefined);
      await store.compareAndSet('never', record(1, 'c'), undefined);
      await store.compareAndSet('gone', { ...record(1, 'd'), sweepAt: 500 }, undefined);
      expect(await store.dueBefore(5_000, 10)).toEqual(['gone', 'early']);
      expect(await store.dueBefore(5_000, 1)).toEqual(['gone']);
      await store.delete('gone');
      // A rewrite without a due time leaves the index.
      await store.compareAndSet('late', record(2, 'b2'), 1);
      expect(await store.dueBefore(10_000, 10)).toEqual(['early']);
      expect(await admin.zcard(`${prefix}keep-alive-due`)).toBe(1);
    });

    it('two processes sweeping one Redis together call the endpoint once per due key', async () => {
      const prefix = freshPrefix();
      const clock = new ManualClock(Date.now());
      const endpoint = new ScriptedEndpoint(clock.now);
      const caches = [0, 1].map(
        () => new TokenCache({ endpoint, store: storeFor(prefix), now: clock.now, random: () => 0 }),
      );
      const DAY = 86_400_000;
      for (let i = 0; i < 20; i++) {
        await caches[0]!.set(`k${i}`, {
          accessToken: `a${i}`,
          refreshToken: `r${i}`,
          expiresAt: clock.time + 3_600_000,
          refreshTokenExpiresAt: clock.time + (i < 10 ? 2 : 30) * DAY,
        });
      }
      clock.advance(2 * DAY - 3_600_000);
      const results = await Promise.all(caches.map((cache) => cache.sweep()));
      expect(endpoint.calls).toHaveLength(10);
      expect(new Set(endpoint.calls.map((call) => call.refreshToken)).size).toBe(10);
      expect(results.reduce((sum, result) => sum + result.failed, 0)).toBe(0);
      // Every due grant now has its new refresh token, seen by both processes.
      for (let i = 0; i < 10; i++) expect((await caches[1]!.getTokenSet(`k${i}`)).refreshToken).toMatch(/^refresh-/);
      expect(await caches[1]!.sweep()).toMatchObject({ due: 0 });
      await Promise.all(caches.map((cache) => cache.close()));
    });
  });

  describe('records', () => {
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

    it('keeps keys Redis-Cluster-safe: record, lock, its held-by key and channel share one hash tag', async () => {
      const prefix = freshPrefix();
      const store = storeFor(prefix);
      await store.compareAndSet('user:42', record(1, 'a'), undefined);
      const lock = await store.lock('user:42');
      const keys = await admin.keys(`${prefix}*`);
      expect(keys.sort()).toEqual([`${prefix}{user:42}`, `${prefix}{user:42}:held-by`, `${prefix}{user:42}:lock`]);
      await lock.release();
      expect(await admin.exists(`${prefix}{user:42}:lock`, `${prefix}{user:42}:held-by`)).toBe(0);
    });

    it('shows neither tokens nor key material in inspect', async () => {
      const store = storeFor(freshPrefix(), { encryptionKey: { id: 'k1', key: Buffer.alloc(32, 7) } });
      await store.compareAndSet('k', record(1, 'SENTINEL-INSPECT'), undefined);
      expect(inspect(store, { depth: 10, showHidden: true })).not.toContain('SENTINEL');
      expect(inspect(store, { depth: 10, showHidden: true })).not.toContain(Buffer.alloc(32, 7).toString('base64'));
    });
  });

  describe('across processes', () => {
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
      // A dead holder: its lock is in Redis, and nobody renews or releases it.
      await admin.set(`${prefix}{k}:lock`, 'dead-holder', 'PX', 300);
      const waiting = caches[1].getAccessToken('k');
      // While the dead holder's lock stands, nobody presents the refresh token.
      expect(await admin.get(`${prefix}{k}:lock`)).toBe('dead-holder');
      expect(endpoint.calls).toHaveLength(0);
      expect(await waiting).toBe('access-1');
      expect(endpoint.calls).toHaveLength(1);
      expect((await storeFor(prefix).get('k'))!.tokens.refreshToken).toBe('refresh-1');
    });

    it('never presents a refresh token twice when the endpoint is slower than lockTtlMs: the held lock is renewed', async () => {
      const { endpoint, caches } = await twoProcesses({ lockTtlMs: 300 });
      await caches[0].set('k', { accessToken: 'old', refreshToken: 'refresh-old', expiresAt: Date.now() - 1 });
      endpoint.hold();
      const first = caches[0].getAccessToken('k');
      await waitFor(async () => endpoint.calls.length === 1, 'the first refresh, at the endpoint', { intervalMs: 10 });
      // The other process waits past the lock's lifetime; it must not take the lock and present refresh-old again.
      let settled = false;
      const second = caches[1].getAccessToken('k').then(
        (token) => token,
        (error: unknown) => error,
      );
      void second.finally(() => (settled = true));
      while (!settled && endpoint.calls.length === 1) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(endpoint.calls).toEqual([{ grant: 'refresh_token', refreshToken: 'refresh-old' }]);
      expect(await second).toBeInstanceOf(StoreUnavailableError);
      endpoint.release();
      expect(await first).toBe('access-1');
      expect(await caches[1].getAccessToken('k')).toBe('access-1');
      expect(endpoint.calls).toHaveLength(1);
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

  describe('outage', () => {
    itWithOwnServer(
      'serves valid tokens from L1 while Redis is down, fails refreshes with StoreUnavailableError, and recovers',
      async () => {
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
      },
    );
  });

  describe('refresh lock', () => {
    it('renews the lock while its holder works past lockTtlMs: another lock() does not get it, and lost stays quiet', async () => {
      const prefix = freshPrefix();
      const holder = storeFor(prefix, { lockTtlMs: 300 });
      const lock = await holder.lock('k');
      // Another process waits the whole lifetime (and a poll) for it, in vain.
      const rival = storeFor(prefix, { lockTtlMs: 300 });
      await expect(rival.lock('k')).rejects.toBeInstanceOf(StoreUnavailableError);
      const waitedOut = await admin.get(`${prefix}{k}:lock`);
      expect(lock.lost?.aborted).toBe(false);
      await lock.release();
      expect(waitedOut).not.toBeNull();
      expect(await admin.exists(`${prefix}{k}:lock`)).toBe(0);
      const next = await rival.lock('k');
      expect(await admin.get(`${prefix}{k}:lock`)).not.toBe(waitedOut);
      await next.release();
      // Released, the first lock's watchdog is stopped: its loss timer never fires.
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(lock.lost?.aborted).toBe(false);
    });

    it.each([
      ['taken by another holder', (lockKey: string) => admin.set(lockKey, 'intruder', 'PX', 60_000)],
      ['deleted', (lockKey: string) => admin.del(lockKey)],
    ])('aborts lost when the lock is %s', async (_name, steal) => {
      const prefix = freshPrefix();
      const lock = await storeFor(prefix, { lockTtlMs: 300 }).lock('k');
      await steal(`${prefix}{k}:lock`);
      await waitFor(async () => lock.lost!.aborted, 'lost');
      expect(lock.lost!.reason).toBeInstanceOf(StoreUnavailableError);
      expect((lock.lost!.reason as Error).message).toBe(
        'Refresh lock for key `k` was lost: another holder has it (it lapsed, or was deleted)',
      );
      await lock.release();
      if ((await admin.get(`${prefix}{k}:lock`)) !== null) {
        expect(await admin.get(`${prefix}{k}:lock`)).toBe('intruder'); // release never frees another's lock
      }
    });

    it('says tookOver only for a lock whose previous lease ran out unreleased', async () => {
      const prefix = freshPrefix();
      const [a, b] = [storeFor(prefix, { lockTtlMs: 300 }), storeFor(prefix, { lockTtlMs: 300 })];
      const first = await a.lock('k');
      expect(first.tookOver).toBe(false);
      await first.release();
      const released = await b.lock('k');
      expect(released.tookOver).toBe(false);
      // The holder stops renewing (as when it lost Redis) and its lease runs out.
      await admin.del(`${prefix}{k}:lock`);
      const takenOver = await a.lock('k');
      expect(takenOver.tookOver).toBe(true);
      // The lapsed holder's late release frees nothing, and the next taker after a proper release is told nothing.
      await released.release();
      expect(await admin.exists(`${prefix}{k}:lock`)).toBe(1);
      await takenOver.release();
      const after = await b.lock('k');
      expect(after.tookOver).toBe(false);
      await after.release();
    });

    it('a release wakes a waiter in another process at once, and leaves that process’s local copy in place', async () => {
      const prefix = freshPrefix();
      // Waiters poll only once a minute: getting the lock within the test's timeout takes the release message.
      const holder = storeFor(prefix, { lockPollIntervalMs: 60_000 });
      const waiter = storeFor(prefix, { lockPollIntervalMs: 60_000 });
      await holder.compareAndSet('k', record(1, 'a'), undefined);
      await waiter.get('k');
      expect(waiter.get('k')).not.toBeInstanceOf(Promise); // in L1
      const held = await holder.lock('k');
      const waiting = waiter.lock('k');
      // The waiter's first attempt is refused before the release, so only a wake-up gets it the lock.
      await waitFor(async () => (await admin.pttl(`${prefix}{k}:lock`)) > 0, 'the lock held');
      await new Promise((resolve) => setTimeout(resolve, 100));
      await held.release();
      const next = await waiting;
      expect(next.tookOver).toBe(false);
      // The release wrote no record: the waiter still answers from its local copy.
      expect(waiter.get('k')).not.toBeInstanceOf(Promise);
      await next.release();
    });

    itWithOwnServer('aborts lost before the lock could lapse when Redis is paused', async () => {
      const lock = await storeFor(freshPrefix(), { lockTtlMs: 600, operationTimeoutMs: 100 }).lock('k');
      redis.pause();
      try {
        await waitFor(async () => lock.lost!.aborted, 'lost', { intervalMs: 20 });
      } finally {
        redis.resume();
      }
      expect((lock.lost!.reason as Error).message).toBe(
        'Refresh lock for key `k` was lost: it could not be renewed within 600 ms',
      );
      await lock.release();
    });
  });

  describe('subscription', () => {
    itWithOwnServer(
      'a resubscription Redis refuses after a reconnection leaves no unhandled rejection behind',
      async () => {
        const store = storeFor(freshPrefix());
        await store.get('k'); // opens the update subscription
        await waitFor(async () => Number(await admin.pubsub('NUMPAT')) >= 1, 'the update subscription');
        const unhandled: unknown[] = [];
        const onUnhandled = (reason: unknown): number => unhandled.push(reason);
        process.on('unhandledRejection', onUnhandled);
        const connections = async (): Promise<number> =>
          Number(/total_connections_received:(\d+)/.exec(await admin.info('stats'))![1]);
        const before = await connections();
        try {
          // Redis drops a subscriber whose channels its user may no longer
          // use; the client reconnects and subscribes again, and Redis refuses
          // (NOPERM). Both PSUBSCRIBEs sent then must have their failure handled.
          await admin.call('ACL', 'SETUSER', 'default', 'resetchannels');
          await waitFor(async () => (await connections()) > before, 'the subscriber reconnecting', { intervalMs: 10 });
          await new Promise((resolve) => setTimeout(resolve, 200));
        } finally {
          await admin.call('ACL', 'SETUSER', 'default', 'allchannels');
          process.off('unhandledRejection', onUnhandled);
        }
        expect(unhandled).toEqual([]);
      },
    );
  });

  describe('local copies (L1) across processes', () => {
    it('drops another process’s copy when a record is deleted or set', async () => {
      const prefix = freshPrefix();
      const [writer, reader] = [storeFor(prefix), storeFor(prefix)];
      await writer.compareAndSet('k', record(1, 'first-account'), undefined);
      expect(await reader.get('k')).toMatchObject({ version: 1 });
      expect(reader.get('k')).toMatchObject({ version: 1 }); // served from L1, synchronously

      await writer.delete('k');
      await waitFor(async () => (await reader.get('k')) === undefined, 'the delete in the other process');

      await writer.compareAndSet('k', record(1, 'second-account'), undefined);
      expect(await reader.get('k')).toMatchObject({ tokens: { accessToken: 'second-account' } });
      await writer.compareAndSet('k', record(2, 'after-login'), 1);
      await waitFor(
        async () => (await reader.get('k'))?.tokens.accessToken === 'after-login',
        'the set in the other process',
      );
    });

    it('drops every copy when its subscription comes back, since messages may have been missed meanwhile', async () => {
      const prefix = freshPrefix();
      const [writer, reader] = [storeFor(prefix), storeFor(prefix)];
      await writer.compareAndSet('k', record(1, 'before'), undefined);
      expect(await reader.get('k')).toMatchObject({ tokens: { accessToken: 'before' } });
      // A write whose message nobody hears (as while a subscriber reconnects).
      const data = JSON.stringify({ t: { accessToken: 'unheard' }, r: null, u: null });
      await admin.hset(`${prefix}{k}`, { v: '2', d: data, w: 'elsewhere' });
      expect(reader.get('k')).toMatchObject({ tokens: { accessToken: 'before' } });
      await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await waitFor(
        async () => (await reader.get('k'))?.tokens.accessToken === 'unheard',
        'L1 dropped after resubscribing',
      );
    });

    it('checks a copy older than localMaxAgeMs against Redis, so a lost message leaves it stale no longer', async () => {
      const prefix = freshPrefix();
      const [writer, reader] = [storeFor(prefix), storeFor(prefix, { localMaxAgeMs: 200 })];
      await writer.compareAndSet('k', record(1, 'before'), undefined);
      expect(await reader.get('k')).toMatchObject({ tokens: { accessToken: 'before' } });
      // Another process deletes the record, and the message is lost.
      await admin.del(`${prefix}{k}`);
      expect(reader.get('k')).toMatchObject({ tokens: { accessToken: 'before' } });
      await waitFor(async () => (await reader.get('k')) === undefined, 'the check of the aged copy', {
        intervalMs: 20,
      });
    });

    itWithOwnServer('keeps serving a copy older than localMaxAgeMs while Redis is down', async () => {
      const store = storeFor(freshPrefix(), { localMaxAgeMs: 100, operationTimeoutMs: 100 });
      await store.compareAndSet('k', record(1, 'still-valid'), undefined);
      await redis.stop();
      try {
        for (let step = 0; step < 8; step++) {
          expect(store.get('k')).toMatchObject({ tokens: { accessToken: 'still-valid' } });
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      } finally {
        await redis.restart();
      }
    });

    it('reads Redis for get(key, { fresh: true }) and L1 for a plain get', async () => {
      const prefix = freshPrefix();
      const store = storeFor(prefix);
      await store.compareAndSet('k', record(1, 'kept'), undefined);
      await admin.hset(`${prefix}{k}`, { d: JSON.stringify({ t: { accessToken: 'newer' }, r: null, u: null }) });
      expect(store.get('k')).toMatchObject({ tokens: { accessToken: 'kept' } });
      expect(await store.get('k', { fresh: true })).toMatchObject({ tokens: { accessToken: 'newer' } });
    });

    itWithOwnServer(
      'serves a valid L1 token while Redis is down, though a background refresh holds the key’s lock',
      async () => {
        const prefix = freshPrefix();
        const clock = new ManualClock(Date.now());
        const endpoint = new ScriptedEndpoint(clock.now);
        const store = storeFor(prefix, { operationTimeoutMs: 200 });
        const cache = new TokenCache({ endpoint, store, now: clock.now });
        await cache.set('k', { accessToken: 'still-valid', refreshToken: 'r1', expiresAt: clock.time + 60_000 });
        // Inside the refresh window (at most half the lifetime): served at once, refreshed in the background.
        clock.advance(50_000);
        endpoint.hold();
        expect(await cache.getAccessToken('k')).toBe('still-valid');
        await waitFor(async () => endpoint.calls.length === 1, 'the background refresh, holding the lock');
        await redis.stop();
        try {
          expect(await cache.getAccessToken('k')).toBe('still-valid');
          expect(await cache.getAccessToken('k')).toBe('still-valid');
        } finally {
          endpoint.release();
          await redis.restart();
        }
      },
    );
  });

  describe('corrupt and tampered records', () => {
    async function seeded(prefix: string): Promise<Record<string, string>> {
      await storeFor(prefix).compareAndSet('k', record(1, 'original'), undefined);
      return admin.hgetall(`${prefix}{k}`);
    }

    it.each(['01', '1e0', ' 1', '1.0', '+1', '0x1', '1 ', '9007199254740993'])(
      'reads version `%s` as corrupt, fences writes against it, and lets delete + a fresh write recover',
      async (version) => {
        const prefix = freshPrefix();
        const fields = await seeded(prefix);
        await admin.hset(`${prefix}{k}`, { ...fields, v: version });
        const store = storeFor(prefix);
        const error = await Promise.resolve(store.get('k')).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CorruptRecordError);
        expect((error as CorruptRecordError).storedVersion).toBeUndefined();
        expect(await store.compareAndSet('k', record(2, 'lost'), 1)).toBe(false);
        expect(await store.compareAndSet('k', record(1, 'lost'), undefined)).toBe(false);
        expect(await admin.hget(`${prefix}{k}`, 'v')).toBe(version);
        // What core's set does when storedVersion is undefined:
        await store.delete('k');
        expect(await store.compareAndSet('k', record(1, 'after-login'), undefined)).toBe(true);
        expect(await storeFor(prefix).get('k')).toMatchObject({ version: 1, tokens: { accessToken: 'after-login' } });
      },
    );

    it.each([
      ['data that is not JSON', { d: 'not json' }],
      ['data that fails to decrypt', { d: JSON.stringify({ t: { k: 'x', i: 'AA==', c: 'AA==', g: 'AA==' } }) }],
      ['no data at all', { d: undefined }],
    ])(
      'gives storedVersion for %s under a canonical version, and compare-and-set on it overwrites',
      async (_name, change) => {
        const prefix = freshPrefix();
        const fields = await seeded(prefix);
        await admin.del(`${prefix}{k}`);
        const tampered: Record<string, string> = { ...fields, v: '7' };
        if (change.d === undefined) delete tampered.d;
        else tampered.d = change.d;
        await admin.hset(`${prefix}{k}`, tampered);
        const store = storeFor(prefix);
        const error = await Promise.resolve(store.get('k')).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CorruptRecordError);
        expect((error as CorruptRecordError).storedVersion).toBe(7);
        expect(await store.compareAndSet('k', record(8, 'after-login'), 7)).toBe(true);
        expect(await storeFor(prefix).get('k')).toMatchObject({ version: 8, tokens: { accessToken: 'after-login' } });
      },
    );

    it('reads a key of another type as corrupt, and delete clears it', async () => {
      const prefix = freshPrefix();
      await admin.set(`${prefix}{k}`, 'not a hash');
      const store = storeFor(prefix);
      const error = await Promise.resolve(store.get('k')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CorruptRecordError);
      expect((error as CorruptRecordError).storedVersion).toBeUndefined();
      await store.delete('k');
      expect(await store.compareAndSet('k', record(1, 'after-login'), undefined)).toBe(true);
    });
  });

  describe('versions', () => {
    it.each([0, 1.5, -1, Number.NaN, 2 ** 53])('refuses to write version %p, writing nothing', async (version) => {
      const prefix = freshPrefix();
      const store = storeFor(prefix);
      await expect(store.compareAndSet('k', record(version, 'x'), undefined)).rejects.toThrow(
        `Expected \`record.version\` to be a positive safe integer, got \`${String(version)}\``,
      );
      await expect(store.compareAndSet('k', record(1, 'x'), version)).rejects.toBeInstanceOf(TypeError);
      expect(await admin.exists(`${prefix}{k}`)).toBe(0);
    });
  });

  describe('keys', () => {
    it('never lets two keys that are not well-formed Unicode share a record', async () => {
      const prefix = freshPrefix();
      const [alice, mallory] = [storeFor(prefix), storeFor(prefix)];
      // Both lone surrogates encode to U+FFFD in UTF-8.
      await expect(alice.compareAndSet('user-\uD800', record(1, 'alice-token'), undefined)).rejects.toThrow(
        'Expected `key` to be well-formed Unicode, got a string with a lone surrogate',
      );
      await expect(Promise.resolve().then(() => mallory.get('user-\uDC00'))).rejects.toBeInstanceOf(TypeError);
      await expect(mallory.delete('user-\uDC00')).rejects.toBeInstanceOf(TypeError);
      await expect(mallory.lock('user-\uDC00')).rejects.toBeInstanceOf(TypeError);
      expect(await admin.keys(`${prefix}*`)).toEqual([]);
      // Well-formed keys outside the BMP are fine, and distinct.
      await alice.compareAndSet('user-\u{1F600}', record(1, 'emoji'), undefined);
      expect(await mallory.get('user-\u{1F601}')).toBeUndefined();
    });
  });
});
