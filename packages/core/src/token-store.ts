import type { TokenSet } from './token-set.js';

/** A value or a promise of it: stores may answer synchronously from memory. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * What a store keeps for one key: the tokens plus the bookkeeping every
 * process needs to agree on when to refresh.
 */
export interface TokenRecord {
  /** The current tokens. */
  readonly tokens: TokenSet;
  /**
   * Monotonic version, bumped on every write. Writes are compare-and-set
   * against it, so a writer holding an older version can never overwrite a
   * newer record (fencing).
   */
  readonly version: number;
  /** From this time (ms epoch) on, a background refresh starts; callers still get the token at once. */
  readonly refreshAt: number;
  /**
   * From this time (ms epoch) on, callers must wait for a refresh: the token
   * expired or was invalidated. `Infinity` when the expiry is unknown.
   */
  readonly usableUntil: number;
  /** The grant is dead (`invalid_grant`): no refresh until new tokens are `set`. */
  readonly reauthenticationRequired?: boolean;
}

/** A held cross-process refresh lock. */
export interface StoreLock {
  /** Releases the lock if this holder still owns it. Never throws. */
  release(): Promise<void>;
}

/**
 * Where a `TokenCache` keeps records. `MemoryStore` is the default;
 * `@refreshkit/redis` shares records (and the refresh lock) between processes.
 *
 * Stores keep records opaque: they never log or expose token values.
 */
export interface TokenStore {
  /** Reads the record for `key`. Synchronous answers keep the cache-hit path free of awaits. */
  get(key: string): MaybePromise<TokenRecord | undefined>;
  /**
   * Writes `record` only if the stored version is `expectedVersion`
   * (`undefined`: only if nothing is stored). Resolves `false`, writing
   * nothing, when another writer got there first.
   */
  compareAndSet(key: string, record: TokenRecord, expectedVersion: number | undefined): MaybePromise<boolean>;
  /** Removes the record for `key`. */
  delete(key: string): MaybePromise<void>;
  /**
   * Optional cross-process single flight: resolves once this process holds
   * the refresh lock for `key`. Stores shared between processes implement it;
   * the cache re-reads the record after taking the lock.
   */
  lock?(key: string, signal?: AbortSignal): Promise<StoreLock>;
}
