import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import {
  CorruptRecordError,
  StoreUnavailableError,
  type StoreLock,
  type StoreReadOptions,
  type TokenRecord,
  type TokenStore,
} from '@refreshkit/core';
import { JsonRecordCodec, LockWatchdog, RecordCipher, type RecordCodec } from '@refreshkit/core/internal';
import { LocalRecords, type LocalEntry } from './local-records.js';
import { canonicalVersion } from './canonical-version.js';
import { recordKeys, sweepIndexKey, type RecordKeys } from './redis-keys.js';
import type { RedisClient, RedisTokenStoreOptions } from './redis-token-store-options.js';
import { COMPARE_AND_SET, DELETE_RECORD, EXTEND_LOCK, RELEASE_LOCK, TAKE_LOCK, type LuaScript } from './scripts.js';
import { LOCK_RELEASED, UpdateListener } from './update-listener.js';
import { validateStoreOptions } from './validate-store-options.js';
import { withTimeout } from './with-timeout.js';

/** Answers of the TAKE_LOCK script. */
const NOT_TAKEN = 0;
const TAKEN = 1;
const TAKEN_OVER = 2;

/** HMGET on a key that is not a hash: a tampered record, not an outage. */
const WRONG_TYPE = Symbol('wrong type');

function isVersion(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

/**
 * A token store shared by every process that points at the same Redis, so
 * they act as one cache:
 *
 * - **One refresh per key across all processes.** `lock` takes a per-key
 *   lock with a unique holder id, renewed every third of `lockTtlMs` for as
 *   long as it is held and released atomically, only by its holder. When it
 *   cannot be renewed in time (Redis unreachable or paused) or another
 *   holder has it, `StoreLock.lost` aborts before it could lapse. Processes
 *   that must wait are woken by pub/sub when the new record is written or
 *   the lock released, with polling as a fallback, and wait no longer than
 *   the lock's lifetime. A lock taken over from a lease that ran out
 *   unreleased says so (`StoreLock.tookOver`), so the cache waits for the
 *   previous holder's rotated set before presenting the stored refresh token.
 * - **Fencing.** Records carry a version and every write is a
 *   compare-and-set, so a process whose lock lapsed can never overwrite a
 *   newer record. A record with a version that is not canonical is corrupt;
 *   `delete` clears it.
 * - **Local L1.** Each process answers reads from the record it last saw,
 *   without a Redis round trip. Every write and delete is announced by
 *   pub/sub, and every process drops its copy; after a resubscription
 *   (messages may have been missed) each drops them all. Reads with
 *   `{ fresh: true }` go to Redis, and taking a lock re-reads the record,
 *   so a lock holder sees what other processes wrote.
 * - **Outage.** While Redis is unreachable, records in L1 keep being served;
 *   anything that needs Redis (a refresh, a miss) fails with
 *   `StoreUnavailableError`, and recovery is automatic.
 *
 * @example
 * const cache = new TokenCache({ endpoint, store: new RedisTokenStore({ redis: new Redis(url) }) });
 */
export class RedisTokenStore implements TokenStore {
  readonly #redis: RedisClient;
  readonly #ownsClient: boolean;
  readonly #prefix: string;
  readonly #lockTtlMs: number;
  readonly #pollIntervalMs: number;
  readonly #timeoutMs: number;
  readonly #codec: RecordCodec;
  readonly #sweepIndex: string;
  readonly #local: LocalRecords;
  readonly #localMaxAgeMs: number;
  readonly #updates: UpdateListener;
  /** Write ids are this plus a counter: unique across processes, cheap to make. */
  readonly #writerId = randomBytes(9).toString('base64url');
  #writes = 0;
  #closed = false;
  /** Settles once the update subscription is first in place, or once waiting for it timed out. */
  #listening: Promise<void> | undefined;
  #listened = false;
  /**
   * A coarse clock for the hit path's age check: `Date.now()` is read at most
   * once per 100 ms (an unref'd timer lets the next hit read it again), as
   * the core cache does, since the system clock costs about as much as the
   * rest of a hit.
   */
  #clockReading = 0;
  #clockFresh = false;
  readonly #expireClock = (): void => {
    this.#clockFresh = false;
  };

  /** @throws TypeError naming the option, when an option is invalid (before any connection is opened). */
  constructor(options: RedisTokenStoreOptions) {
    const valid = validateStoreOptions(options);
    this.#prefix = valid.prefix;
    this.#sweepIndex = sweepIndexKey(valid.prefix);
    this.#lockTtlMs = valid.lockTtlMs;
    this.#pollIntervalMs = valid.lockPollIntervalMs;
    this.#timeoutMs = valid.operationTimeoutMs;
    this.#codec = new JsonRecordCodec(valid.encryptionKeys && new RecordCipher(valid.encryptionKeys));
    this.#localMaxAgeMs = valid.localMaxAgeMs;
    this.#local = new LocalRecords(valid.localMax, valid.localMaxAgeMs);
    if (typeof valid.redis === 'string') {
      // Our own client, opened last so that no bad option leaves it behind.
      // It fails commands fast while disconnected, and reports connection
      // errors through commands rather than as unhandled events.
      const client = new Redis(valid.redis, { maxRetriesPerRequest: 1 });
      client.on('error', () => {});
      this.#redis = client;
      this.#ownsClient = true;
    } else {
      this.#redis = valid.redis;
      this.#ownsClient = false;
    }
    this.#updates = new UpdateListener(this.#redis, this.#prefix, {
      updated: (key, writeId) => this.#local.invalidate(key, writeId),
      subscribed: () => this.#local.clear(),
    });
  }

  /**
   * {@inheritDoc @refreshkit/core#TokenStore.get}
   *
   * @throws TypeError when `key` is not well-formed Unicode (it would share
   * a Redis key with another).
   */
  get(key: string, options?: StoreReadOptions): TokenRecord | undefined | Promise<TokenRecord | undefined> {
    if (options?.fresh === true) return this.#read(key);
    const found = this.#local.get(key);
    if (found === undefined) return this.#read(key);
    if (found.checkAt <= this.#now()) this.#recheck(key, found);
    return found.record;
  }

  /** {@inheritDoc @refreshkit/core#TokenStore.compareAndSet} */
  async compareAndSet(key: string, record: TokenRecord, expectedVersion: number | undefined): Promise<boolean> {
    const names = recordKeys(this.#prefix, key);
    // Only canonical integers reach the script, which compares versions as strings.
    if (!isVersion(record.version)) {
      throw new TypeError(
        `Expected \`record.version\` to be a positive safe integer, got \`${String(record.version)}\``,
      );
    }
    if (expectedVersion !== undefined && !isVersion(expectedVersion)) {
      throw new TypeError(
        `Expected \`expectedVersion\` to be a positive safe integer or undefined, got \`${String(expectedVersion)}\``,
      );
    }
    const data = await this.#codec.encode(record, names.record);
    const writeId = this.#nextWriteId();
    await this.#listen();
    this.#local.touch(key);
    const ticket = this.#local.begin(key, writeId);
    let written: boolean;
    try {
      const score = record.sweepAt === undefined ? '' : String(record.sweepAt);
      const args = [
        expectedVersion === undefined ? '' : String(expectedVersion),
        String(record.version),
        data,
        writeId,
        names.channel,
        score,
        key,
      ];
      const cluster = this.#redis.isCluster;
      const keys = cluster ? [names.record] : [names.record, this.#sweepIndex];
      written = (await this.#run('compare-and-set', COMPARE_AND_SET, keys, args)) === 1;
      // On a Cluster the index is in another slot: written after the record
      // (a sweep re-reads every record it lists, so a brief disagreement is harmless).
      if (written && cluster) await this.#indexOnCluster(key, score);
    } catch (error) {
      // The write may or may not have landed: if it did, its message drops the copy.
      this.#local.end(key, ticket, undefined);
      throw error;
    }
    // A lost race means our local copy is stale: the next read must go to Redis.
    this.#local.end(key, ticket, written ? { record, writeId } : null);
    return written;
  }

  /**
   * {@inheritDoc @refreshkit/core#TokenStore.delete}
   *
   * Removes the record whatever it holds (a corrupt one too), and tells every
   * process to drop its local copy.
   */
  async delete(key: string): Promise<void> {
    const names = recordKeys(this.#prefix, key);
    await this.#listen();
    this.#local.invalidate(key);
    const cluster = this.#redis.isCluster;
    const keys = cluster ? [names.record] : [names.record, this.#sweepIndex];
    await this.#run('delete', DELETE_RECORD, keys, [names.channel, this.#nextWriteId(), key]);
    if (cluster) await this.#indexOnCluster(key, '');
  }

  /**
   * {@inheritDoc @refreshkit/core#TokenStore.dueBefore}
   *
   * One `ZRANGEBYSCORE … LIMIT` on the keep-alive index (a sorted set kept by
   * every compare-and-set and delete): on the order of the due keys, however
   * many records are stored.
   *
   * @throws StoreUnavailableError when Redis cannot be reached.
   */
  async dueBefore(time: number, limit: number): Promise<string[]> {
    return withTimeout('ZRANGEBYSCORE', this.#timeoutMs, () =>
      this.#redis.zrangebyscore(this.#sweepIndex, '-inf', String(time), 'LIMIT', 0, limit),
    );
  }

  async #indexOnCluster(key: string, score: string): Promise<void> {
    await withTimeout('keep-alive index', this.#timeoutMs, () =>
      score === '' ? this.#redis.zrem(this.#sweepIndex, key) : this.#redis.zadd(this.#sweepIndex, score, key),
    );
  }

  /**
   * Takes `key`'s refresh lock, waiting for another holder to finish (woken
   * by its update or release, or by polling) for at most the lock's lifetime plus one
   * poll. Once taken, the lock is renewed until released, and the record is
   * re-read into L1, so the holder sees what other processes wrote even
   * through a plain `get`.
   *
   * @throws StoreUnavailableError when Redis cannot be reached or the lock cannot be had in time.
   */
  async lock(key: string, signal?: AbortSignal): Promise<StoreLock> {
    const names = recordKeys(this.#prefix, key);
    if (this.#closed) throw new StoreUnavailableError('The Redis token store is closed');
    const holder = randomUUID();
    const deadline = Date.now() + this.#lockTtlMs + this.#pollIntervalMs;
    for (;;) {
      signal?.throwIfAborted();
      const wake = this.#updates.next(names.channel);
      try {
        const takenAt = performance.now();
        const taken = await this.#tryLock(names, holder);
        if (taken !== NOT_TAKEN) return this.#heldLock(key, names, holder, takenAt, taken === TAKEN_OVER);
        if (Date.now() >= deadline) {
          throw new StoreUnavailableError(`Refresh lock for key \`${key}\` not acquired within ${this.#lockTtlMs} ms`);
        }
        await wake.wait(this.#pollIntervalMs, signal);
      } finally {
        wake.cancel();
      }
    }
  }

  /**
   * Closes the pub/sub connection, and the client too if the store created
   * it. Work still in flight then fails with `StoreUnavailableError`; nothing
   * reconnects, so the process can exit.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#updates.close();
    if (this.#ownsClient) await this.#redis.quit().catch(() => {});
  }

  /**
   * Before the first Redis command, waits (at most one operation timeout)
   * for the update subscription, so that what L1 keeps is never older than
   * the subscription that keeps it coherent.
   */
  async #listen(): Promise<void> {
    if (this.#listened) return;
    this.#listening ??= new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.#timeoutMs);
      timer.unref();
      void this.#updates.start().then(() => {
        clearTimeout(timer);
        resolve();
      });
    }).then(() => {
      this.#listened = true;
    });
    await this.#listening;
  }

  /**
   * Checks a local copy that is `localMaxAgeMs` old against Redis in the
   * background, while callers keep being served the copy: the check replaces
   * or drops it. One check at a time; when Redis cannot answer, the copy
   * stays (an outage must not take valid tokens away) and is checked again
   * `localMaxAgeMs` later.
   */
  #recheck(key: string, entry: LocalEntry): void {
    entry.checkAt = Infinity;
    this.#read(key).catch(() => {
      entry.checkAt = Date.now() + this.#localMaxAgeMs;
    });
  }

  #now(): number {
    if (!this.#clockFresh) {
      this.#clockReading = Date.now();
      this.#clockFresh = true;
      setTimeout(this.#expireClock, 100).unref();
    }
    return this.#clockReading;
  }

  #nextWriteId(): string {
    return `${this.#writerId}.${++this.#writes}`;
  }

  /**
   * One attempt at the lock. If it times out, ioredis may still hold it in
   * its offline queue and run it on reconnect, taking a lock nobody would
   * release; a release of the same holder id, queued right behind it on the
   * same connection, undoes that.
   */
  async #tryLock(names: RecordKeys, holder: string): Promise<number> {
    try {
      const taken = await this.#run('lock', TAKE_LOCK, [names.lock, names.heldBy], [holder, String(this.#lockTtlMs)]);
      return taken === TAKEN || taken === TAKEN_OVER ? taken : NOT_TAKEN;
    } catch (error) {
      void this.#releaseLock(names, holder, true).catch(() => {});
      throw error;
    }
  }

  #releaseLock(names: RecordKeys, holder: string, keepHeldBy = false): Promise<unknown> {
    const args = [holder, names.channel, LOCK_RELEASED, keepHeldBy ? '1' : ''];
    return this.#run('lock release', RELEASE_LOCK, [names.lock, names.heldBy], args);
  }

  #heldLock(key: string, names: RecordKeys, holder: string, takenAt: number, tookOver: boolean): StoreLock {
    const watchdog = new LockWatchdog({
      key,
      ttlMs: this.#lockTtlMs,
      takenAt,
      renew: async () =>
        (await this.#run('lock renewal', EXTEND_LOCK, [names.lock], [holder, String(this.#lockTtlMs)])) === 1,
    });
    const release = async (): Promise<void> => {
      watchdog.stop();
      await this.#releaseLock(names, holder).catch(() => {
        // An unreleased lock expires on its own after lockTtlMs (and the next taker learns it took over).
      });
    };
    return { lost: watchdog.lost, tookOver, release };
  }

  async #read(key: string): Promise<TokenRecord | undefined> {
    const names = recordKeys(this.#prefix, key);
    await this.#listen();
    const ticket = this.#local.begin(key);
    let fields: (string | null)[] | typeof WRONG_TYPE;
    try {
      fields = await withTimeout('HMGET', this.#timeoutMs, () =>
        this.#redis
          .hmget(names.record, 'v', 'd', 'w')
          .catch((error: unknown) =>
            String((error as Error | undefined)?.message).startsWith('WRONGTYPE') ? WRONG_TYPE : Promise.reject(error),
          ),
      );
    } catch (error) {
      this.#local.end(key, ticket, undefined);
      throw error;
    }
    if (fields === WRONG_TYPE) {
      this.#local.end(key, ticket, null);
      throw new CorruptRecordError(key, 'it is not a Redis hash');
    }
    const [version = null, data = null, writeId = null] = fields;
    if (version === null && data === null) {
      this.#local.end(key, ticket, null);
      return undefined;
    }
    let record: TokenRecord;
    try {
      const storedVersion = canonicalVersion(version);
      if (storedVersion === undefined) {
        throw new CorruptRecordError(key, 'the version is not a positive integer in canonical form');
      }
      if (data === null) throw new CorruptRecordError(key, 'the data is missing', { storedVersion });
      record = await this.#codec.decode(key, names.record, storedVersion, data);
    } catch (error) {
      this.#local.end(key, ticket, null);
      throw error;
    }
    this.#local.end(key, ticket, { record, writeId });
    return record;
  }

  async #run(operation: string, lua: LuaScript, keys: string[], args: string[]): Promise<unknown> {
    return withTimeout(operation, this.#timeoutMs, async () => {
      try {
        return await this.#redis.evalsha(lua.sha, keys.length, ...keys, ...args);
      } catch (error) {
        if (!String((error as Error).message).startsWith('NOSCRIPT')) throw error;
        return this.#redis.eval(lua.source, keys.length, ...keys, ...args);
      }
    });
  }
}
