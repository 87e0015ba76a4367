import type { EncryptionKey } from '@refreshkit/core/internal';

/**
 * The part of an ioredis client the store uses: a single node, a
 * Sentinel-backed client, or a `Cluster`, from ioredis 5 or 6. Structural
 * rather than ioredis's own class, so that a client from either major (or
 * from a second copy of ioredis in `node_modules`) type-checks.
 */
export interface RedisClient {
  /** `true` for an ioredis `Cluster`. */
  readonly isCluster: boolean;
  evalsha(sha: string, numKeys: number, ...args: string[]): Promise<unknown>;
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
  hmget(key: string, ...fields: string[]): Promise<(string | null)[]>;
  zrangebyscore(
    key: string,
    min: string,
    max: string,
    limit: 'LIMIT',
    offset: number,
    count: number,
  ): Promise<string[]>;
  zadd(key: string, score: string, member: string): Promise<unknown>;
  zrem(key: string, member: string): Promise<unknown>;
  psubscribe(...patterns: string[]): Promise<unknown>;
  /** A new connection with the same options (the store's pub/sub connection). */
  duplicate(): RedisClient;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- ioredis's listeners take any arguments
  on(event: string, listener: (...args: any[]) => void): unknown;
  quit(): Promise<unknown>;
}

/** Options of {@link RedisTokenStore}. */
export interface RedisTokenStoreOptions {
  /**
   * An ioredis client (`Redis`, a Sentinel-backed `Redis`, or `Cluster`;
   * ioredis 5 or 6), or a `redis://` / `rediss://` URL for the store to
   * connect (and close) itself. Required.
   */
  readonly redis: RedisClient | string;
  /**
   * Prefix of every Redis key the store writes.
   * @default 'refreshkit:'
   */
  readonly prefix?: string;
  /**
   * Lifetime of a refresh lock in Redis. A live holder renews it every
   * third of this, for as long as it holds it; a holder that dies
   * mid-refresh blocks the key this long at most. A holder that cannot
   * renew in time is told (`StoreLock.lost`) before the lock would lapse.
   * Range: integer from 100 to 600_000.
   * @default 30_000
   */
  readonly lockTtlMs?: number;
  /**
   * How often a process waiting for another's lock checks again when no
   * update message arrives (messages can be missed while subscribing).
   * Range: integer from 10 to 60_000.
   * @default 250
   */
  readonly lockPollIntervalMs?: number;
  /**
   * Each Redis command fails with `StoreUnavailableError` after this long,
   * so an outage surfaces quickly instead of queueing callers.
   * Range: integer from 50 to 60_000.
   * @default 2_000
   */
  readonly operationTimeoutMs?: number;
  /**
   * Encrypts token sets at rest (AES-256-GCM). Give a list to rotate keys:
   * the first encrypts, every one decrypts.
   */
  readonly encryptionKey?: EncryptionKey | readonly EncryptionKey[];
  /**
   * Most records each process keeps in its local (L1) memory.
   * Range: integer >= 1.
   * @default 10_000
   */
  readonly localMax?: number;
  /**
   * How stale a local (L1) copy may get when update messages are lost
   * unnoticed: a copy this old (to within 100 ms) is checked against Redis
   * in the background at its next read, and served meanwhile (and
   * throughout an outage).
   * Messages keep copies current well within this; it is the backstop.
   * Range: integer from 100 to 86_400_000.
   * @default 60_000
   */
  readonly localMaxAgeMs?: number;
}
