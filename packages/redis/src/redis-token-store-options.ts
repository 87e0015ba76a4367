import type { Cluster, Redis } from 'ioredis';
import type { EncryptionKey } from './record-cipher.js';

/** An ioredis client: a single node, Sentinel-backed, or a Cluster. */
export type RedisClient = Redis | Cluster;

/** Options of {@link RedisTokenStore}. */
export interface RedisTokenStoreOptions {
  /**
   * An ioredis client (`Redis`, a Sentinel-backed `Redis`, or `Cluster`), or
   * a `redis://` URL for the store to connect (and close) itself. Required.
   */
  readonly redis: RedisClient | string;
  /**
   * Prefix of every Redis key the store writes.
   * @default 'refreshkit:'
   */
  readonly prefix?: string;
  /**
   * Lifetime of a refresh lock. A holder that dies mid-refresh blocks the
   * key this long at most; keep it above the endpoint's worst case
   * (`timeoutMs` × `retry.maxAttempts` plus backoff).
   * @default 30_000
   * Range: integer from 100 to 600_000.
   */
  readonly lockTtlMs?: number;
  /**
   * How often a process waiting for another's lock checks again when no
   * update message arrives (messages can be missed while subscribing).
   * @default 250
   * Range: integer from 10 to 60_000.
   */
  readonly lockPollIntervalMs?: number;
  /**
   * Each Redis command fails with `StoreUnavailableError` after this long,
   * so an outage surfaces quickly instead of queueing callers.
   * @default 2_000
   * Range: integer from 50 to 60_000.
   */
  readonly operationTimeoutMs?: number;
  /**
   * Encrypts token sets at rest (AES-256-GCM). Give a list to rotate keys:
   * the first encrypts, every one decrypts.
   */
  readonly encryptionKey?: EncryptionKey | readonly EncryptionKey[];
  /**
   * Most records each process keeps in its local (L1) memory.
   * @default 10_000
   * Range: integer >= 1.
   */
  readonly localMax?: number;
}
