import type { GrantFailure } from './grant-health.js';
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
  /**
   * The grant's last failure, when it is `failing` or `dead`; absent when
   * healthy. Stored with the record so every process sees the same state;
   * holds codes and times only.
   */
  readonly health?: GrantFailure;
  /**
   * When a keep-alive sweep should refresh this grant (ms epoch): before its
   * refresh token expires or it has been idle too long, or when a failing
   * grant's next attempt is due. Absent when no sweep can help (a dead grant,
   * a refresh token that lives as long as the grant). Stores that implement
   * {@link TokenStore.dueBefore} index records by it.
   */
  readonly sweepAt?: number;
}

/** A held cross-process refresh lock. */
export interface StoreLock {
  /**
   * Aborts when the store can no longer vouch that this holder owns the lock
   * (it could not be renewed in time, or another holder took it). A holder
   * whose lock is lost must not present the refresh token any more: another
   * process may be presenting it. Absent for locks that cannot be lost.
   */
  readonly lost?: AbortSignal;
  /**
   * The lock was taken over from a holder whose lease ran out without being
   * released (it crashed, or lost the store while refreshing). That holder
   * may have presented the stored refresh token and be holding the rotated
   * set it got back, waiting for the store to take it: presenting the stored
   * refresh token at once could reuse a consumed one. The cache then waits a
   * grace period for such a write before it refreshes. Stores that cannot
   * tell leave it undefined (treated as false).
   */
  readonly tookOver?: boolean;
  /** Releases the lock if this holder still owns it. Never throws. */
  release(): Promise<void>;
}

/** Options of {@link TokenStore.get}. */
export interface StoreReadOptions {
  /**
   * Read the shared source itself, bypassing any copy the store keeps in
   * process memory. The refresh protocol reads this way after taking the
   * lock, so the holder sees what other processes wrote; callers of the hit
   * path never do, so a local copy keeps being served while the shared
   * source is unreachable.
   */
  readonly fresh?: boolean;
}

/**
 * Where a `TokenCache` keeps records. `MemoryStore` is the default;
 * `@refreshkit/redis` shares records (and the refresh lock) between processes.
 *
 * Stores keep records opaque: they never log or expose token values.
 */
export interface TokenStore {
  /**
   * Reads the record for `key`. Synchronous answers keep the cache-hit path
   * free of awaits.
   *
   * @throws CorruptRecordError when the stored record cannot be read; its
   * `storedVersion` is set when the version itself is readable, so that a
   * `set` can overwrite the record with compare-and-set.
   */
  get(key: string, options?: StoreReadOptions): MaybePromise<TokenRecord | undefined>;
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
   * the refresh lock for `key`. Stores shared between processes implement it,
   * keep the lock alive for as long as it is held (renewing it), and abort
   * `lost` when they cannot; the cache re-reads the record (`fresh`) after
   * taking the lock.
   */
  lock?(key: string, signal?: AbortSignal): Promise<StoreLock>;
  /**
   * Optional index for keep-alive sweeps: up to `limit` keys whose record's
   * `sweepAt` is at or before `time`, soonest first. Must read an index kept
   * up to date by `compareAndSet` and `delete`, not scan every record: a
   * sweep calls it on every pass. A key may be listed whose record changed
   * since; the sweep re-reads each record before acting.
   */
  dueBefore?(time: number, limit: number): MaybePromise<readonly string[]>;
}
