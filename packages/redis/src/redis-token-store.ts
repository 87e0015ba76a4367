import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { StoreUnavailableError, type StoreLock, type TokenRecord, type TokenStore } from '@refreshkit/core';
import { RecordCipher, type EncryptionKey } from './record-cipher.js';
import { RecordCodec } from './record-codec.js';
import { recordKeys, type RecordKeys } from './redis-keys.js';
import type { RedisClient, RedisTokenStoreOptions } from './redis-token-store-options.js';
import { COMPARE_AND_SET, RELEASE_LOCK, type LuaScript } from './scripts.js';
import { UpdateListener } from './update-listener.js';
import { withTimeout } from './with-timeout.js';

function integerOption(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(
      `Expected \`${name}\` to be an integer from ${min} to ${max}, got \`${String(value)}\` (${typeof value})`,
    );
  }
  return value;
}

/**
 * A token store shared by every process that points at the same Redis, so
 * they act as one cache:
 *
 * - **One refresh per key across all processes.** `lock` takes a per-key
 *   `SET NX PX` lock with a unique value (released atomically, only by its
 *   holder). Processes that must wait are woken by pub/sub when the new
 *   record is written, with polling as a fallback, and wait no longer than
 *   the lock's lifetime.
 * - **Fencing.** Records carry a version and every write is a
 *   compare-and-set, so a process whose lock expired mid-refresh can never
 *   overwrite a newer record.
 * - **Local L1.** Each process answers reads from the record it last saw,
 *   without a Redis round trip. A lock holder (every refresh, including the
 *   refresh-window check) reads Redis itself, so it sees what other
 *   processes wrote.
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
  readonly #local: LRUCache<string, TokenRecord>;
  readonly #updates: UpdateListener;
  #closed = false;
  /** Keys whose refresh lock this process holds: their reads bypass L1, so the holder sees Redis as it is. */
  readonly #held = new Set<string>();

  /** @throws TypeError naming the option, when an option is invalid. */
  constructor(options: RedisTokenStoreOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('Expected `options` to be an object');
    const { redis, prefix = 'refreshkit:', encryptionKey } = options;
    if (typeof redis === 'string') {
      // Our own client: fail commands fast while disconnected, and report
      // connection errors through commands rather than as unhandled events.
      this.#redis = new Redis(redis, { maxRetriesPerRequest: 1 });
      this.#redis.on('error', () => {});
      this.#ownsClient = true;
    } else if (typeof redis === 'object' && redis !== null && typeof (redis as RedisClient).evalsha === 'function') {
      this.#redis = redis;
      this.#ownsClient = false;
    } else {
      throw new TypeError(`Expected \`redis\` to be an ioredis client or a redis:// URL, got \`${typeof redis}\``);
    }
    if (typeof prefix !== 'string') throw new TypeError(`Expected \`prefix\` to be a string, got \`${typeof prefix}\``);
    this.#prefix = prefix;
    this.#lockTtlMs = integerOption('lockTtlMs', options.lockTtlMs, 30_000, 100, 600_000);
    this.#pollIntervalMs = integerOption('lockPollIntervalMs', options.lockPollIntervalMs, 250, 10, 60_000);
    this.#timeoutMs = integerOption('operationTimeoutMs', options.operationTimeoutMs, 2_000, 50, 60_000);
    const localMax = integerOption('localMax', options.localMax, 10_000, 1, 2 ** 32);
    const keys = encryptionKey === undefined ? undefined : ([] as EncryptionKey[]).concat(encryptionKey);
    this.#codec = new RecordCodec(keys && new RecordCipher(keys));
    this.#local = new LRUCache({ max: localMax });
    this.#updates = new UpdateListener(this.#redis);
  }

  /** {@inheritDoc @refreshkit/core#TokenStore.get} */
  get(key: string): TokenRecord | undefined | Promise<TokenRecord | undefined> {
    if (this.#held.size > 0 && this.#held.has(key)) return this.#read(key);
    return this.#local.get(key) ?? this.#read(key);
  }

  /** {@inheritDoc @refreshkit/core#TokenStore.compareAndSet} */
  async compareAndSet(key: string, record: TokenRecord, expectedVersion: number | undefined): Promise<boolean> {
    const names = recordKeys(this.#prefix, key);
    const data = this.#codec.encode(record, names.record);
    const args = [
      expectedVersion === undefined ? '' : String(expectedVersion),
      String(record.version),
      data,
      names.channel,
    ];
    const written = (await this.#run('compare-and-set', COMPARE_AND_SET, [names.record], args)) === 1;
    // A lost race means our local copy is stale: the next read must go to Redis.
    if (written) this.#local.set(key, record);
    else this.#local.delete(key);
    return written;
  }

  /** {@inheritDoc @refreshkit/core#TokenStore.delete} */
  async delete(key: string): Promise<void> {
    this.#local.delete(key);
    await withTimeout('DEL', this.#timeoutMs, () => this.#redis.del(recordKeys(this.#prefix, key).record));
  }

  /**
   * Takes `key`'s refresh lock, waiting for another holder to finish (woken
   * by its update, or by polling) for at most the lock's lifetime plus one
   * poll. While held, this process's reads of `key` go to Redis, not L1,
   * so the holder's re-read sees what other processes wrote. (Before that,
   * L1 stays: during an outage it is what gets served.)
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
        const taken = await this.#trySetLock(names, holder);
        if (taken) return this.#heldLock(key, names, holder);
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
   * One `SET NX PX` attempt. If it times out, ioredis may still hold it in its
   * offline queue and run it on reconnect, taking a lock nobody would
   * release; a release of the same holder value, queued right behind it on
   * the same connection, undoes that.
   */
  async #trySetLock(names: RecordKeys, holder: string): Promise<boolean> {
    try {
      const reply = await withTimeout('SET NX', this.#timeoutMs, () =>
        this.#redis.set(names.lock, holder, 'PX', this.#lockTtlMs, 'NX'),
      );
      return reply === 'OK';
    } catch (error) {
      void this.#run('lock release', RELEASE_LOCK, [names.lock], [holder]).catch(() => {});
      throw error;
    }
  }

  #heldLock(key: string, names: RecordKeys, holder: string): StoreLock {
    this.#held.add(key);
    return {
      release: async () => {
        this.#held.delete(key);
        await this.#run('lock release', RELEASE_LOCK, [names.lock], [holder]).catch(() => {
          // An unreleased lock expires on its own after lockTtlMs.
        });
      },
    };
  }

  async #read(key: string): Promise<TokenRecord | undefined> {
    const names = recordKeys(this.#prefix, key);
    const [version, data] = await withTimeout('HMGET', this.#timeoutMs, () =>
      this.#redis.hmget(names.record, 'v', 'd'),
    );
    if (version === null || version === undefined || data === null || data === undefined) return undefined;
    const record = this.#codec.decode(key, names.record, version, data);
    this.#local.set(key, record);
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
