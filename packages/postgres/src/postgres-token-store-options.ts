import type { EncryptionKey } from '@refreshkit/core/internal';

/** What the store reads back from a query: the rows and how many the statement touched. */
export interface PostgresQueryResult {
  readonly rows: readonly Record<string, unknown>[];
  readonly rowCount: number | null;
}

/** A client checked out of a {@link PostgresPool}. */
export interface PostgresPoolClient {
  query(text: string, values?: readonly unknown[]): Promise<PostgresQueryResult>;
  on(event: 'notification', listener: (message: { channel: string; payload?: string }) => void): unknown;
  on(event: 'error' | 'end', listener: (error?: Error) => void): unknown;
  removeAllListeners(event?: string): unknown;
  /** Returns the client to the pool; with an error (or `true`), destroys it instead. */
  release(destroy?: Error | boolean): void;
}

/**
 * The part of a `pg` Pool (node-postgres 8) the store uses. Typed here so
 * that applications need no `@types/pg` to use the store.
 */
export interface PostgresPool {
  query(text: string, values?: readonly unknown[]): Promise<PostgresQueryResult>;
  connect(): Promise<PostgresPoolClient>;
  end(): Promise<void>;
}

/** Options of {@link PostgresTokenStore}. */
export interface PostgresTokenStoreOptions {
  /**
   * A `pg` Pool, or a `postgres://` / `postgresql://` connection string for
   * the store to open (and close) a pool itself. Required. The store holds
   * one of the pool's connections for `LISTEN` while it is open, so close
   * the store before ending the pool.
   */
  readonly pool: PostgresPool | string;
  /**
   * The records table (the lock table is named after it, with `_locks`).
   * Lower-case letters, digits and `_`, starting with a letter or `_`.
   * @default 'refreshkit_tokens'
   * Range: 1 to 40 characters.
   */
  readonly table?: string;
  /**
   * Lifetime of a refresh lease. The holder renews it every third of this
   * while it refreshes, so a slow endpoint keeps it; a holder that dies (or
   * loses the database) blocks the key this long at most.
   * @default 10_000
   * Range: integer from 300 to 600_000.
   */
  readonly lockTtlMs?: number;
  /**
   * How often a process waiting for another's lock checks again when no
   * notification arrives (one can be missed while the listener reconnects).
   * @default 250
   * Range: integer from 10 to 60_000.
   */
  readonly lockPollIntervalMs?: number;
  /**
   * Longest a process waits for another's lock before failing with
   * `StoreUnavailableError`. A holder renews its lease for as long as its
   * refresh lasts, so keep this above the endpoint's worst case.
   * @default 60_000
   * Range: integer from 100 to 3_600_000.
   */
  readonly lockWaitTimeoutMs?: number;
  /**
   * Each query fails with `StoreUnavailableError` after this long, so an
   * outage surfaces quickly instead of queueing callers.
   * @default 2_000
   * Range: integer from 50 to 60_000.
   */
  readonly operationTimeoutMs?: number;
  /**
   * Encrypts token sets at rest (AES-256-GCM, the row's key as associated
   * data). Give a list to rotate keys: the first encrypts, every one decrypts.
   */
  readonly encryptionKey?: EncryptionKey | readonly EncryptionKey[];
  /**
   * Most records each process keeps in its local (L1) memory.
   * @default 10_000
   * Range: integer from 1 to 2^32.
   */
  readonly localMax?: number;
}
