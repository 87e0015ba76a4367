import { randomBytes, randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import pg from 'pg';
import {
  CorruptRecordError,
  StoreUnavailableError,
  type StoreLock,
  type StoreReadOptions,
  type TokenRecord,
  type TokenStore,
} from '@refreshkit/core';
import {
  integerOption,
  invalid,
  JsonRecordCodec,
  LockWatchdog,
  RecordCipher,
  validateEncryptionKeys,
  type RecordCodec,
} from '@refreshkit/core/internal';
import { NotificationListener } from './notification-listener.js';
import type { PostgresPool, PostgresQueryResult, PostgresTokenStoreOptions } from './postgres-token-store-options.js';
import { runQuery } from './run-query.js';
import { DEFAULT_TABLE, postgresSchemaSql } from './schema-sql.js';
import { assertStorableKey } from './validate-key.js';

/** Table names are spliced into SQL, so only plain lower-case identifiers (which need no quoting) are allowed. */
const TABLE_NAME = /^[a-z_][a-z0-9_]{0,39}$/;
/** A bigint column read as text: canonical, positive, and exact as a JavaScript number. */
const CANONICAL_VERSION = /^[1-9][0-9]{0,15}$/;
/** `migrate()` may wait behind another process's migration. */
const MIGRATE_TIMEOUT_MS = 60_000;

/** Notification kinds: a record changed (drop it from L1, wake waiters), or a lock was released (wake waiters). */
const WRITTEN = 'w';
const RELEASED = 'r';

/** One read or write in flight, told when a notification makes what it will bring back stale. */
interface InFlight {
  stale: boolean;
}

function isPool(value: unknown): value is PostgresPool {
  const pool = value as Partial<PostgresPool> | null;
  return (
    typeof pool === 'object' &&
    pool !== null &&
    typeof pool.query === 'function' &&
    typeof pool.connect === 'function' &&
    typeof pool.end === 'function'
  );
}

function assertVersion(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalid(name, 'a positive safe integer', value);
  }
}

/** A JavaScript time (ms epoch) as a `timestamptz` parameter; NULL for never / unknown. */
function timestamp(ms: number): Date | null {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms) : null;
}

/**
 * A token store shared by every process that uses the same PostgreSQL
 * tables, so they act as one cache:
 *
 * - **One row per key, every write a compare-and-set** on its `version`
 *   (`UPDATE ... WHERE version = $expected`, or `INSERT ... ON CONFLICT DO
 *   NOTHING` when nothing should be stored), so a stale writer never rolls a
 *   rotated refresh token back.
 * - **One refresh per key across all processes**, by a lease row in
 *   `<table>_locks`. Why a lease and not a session advisory lock: an
 *   advisory lock belongs to a connection, so each held lock would pin a
 *   pool connection for the whole refresh, would leak to the next user if
 *   that connection went back to the pool unreleased (or through a
 *   transaction-pooling proxy), and would vanish silently if the connection
 *   dropped, with the holder none the wiser. A lease is plain rows on any
 *   pooled connection: it survives a dropped connection (the holder renews
 *   it over another), expires by itself when the holder dies, is renewed
 *   every third of `lockTtlMs` while the refresh lasts, and aborts the
 *   lock's `lost` signal when it cannot be renewed in time or another holder
 *   took it. Expiry is judged by the database's clock alone. A released
 *   lease row is deleted, so a taker that replaces an expired row knows the
 *   previous holder never released it (`StoreLock.tookOver`): the cache then
 *   waits for that holder's rotated set before presenting the refresh token.
 * - **Waiters wake by `LISTEN`/`NOTIFY`** (one pool connection held in
 *   `LISTEN`), sent in the same statement as the write or the release, with
 *   polling as the fallback.
 * - **Local L1.** Hits are answered from process memory without a query.
 *   Every write and delete notifies, and other processes drop their copy;
 *   when the listening connection comes back after a drop, L1 is cleared,
 *   since notifications were missed meanwhile. `get(key, { fresh: true })`
 *   (which the cache uses after taking the lock) reads the table itself.
 * - **Outage.** While PostgreSQL is unreachable, records in L1 keep being
 *   served; anything that needs the database fails with
 *   `StoreUnavailableError` (never carrying `pg`'s query text or
 *   parameters), and recovery is automatic.
 *
 * Create the tables with {@link PostgresTokenStore.migrate} or by running
 * {@link postgresSchemaSql} in your own migrations.
 *
 * @example
 * const store = new PostgresTokenStore({ pool: new pg.Pool({ connectionString }) });
 * await store.migrate();
 * const cache = new TokenCache({ endpoint, store });
 */
export class PostgresTokenStore implements TokenStore {
  readonly #pool: PostgresPool;
  readonly #ownsPool: boolean;
  readonly #table: string;
  readonly #lockTtlMs: number;
  readonly #pollIntervalMs: number;
  readonly #lockWaitTimeoutMs: number;
  readonly #timeoutMs: number;
  readonly #codec: RecordCodec;
  readonly #local: LRUCache<string, TokenRecord>;
  readonly #listener: NotificationListener;
  /** Tells this process's notifications from others': its own writes already updated its L1. */
  readonly #instance = randomBytes(9).toString('base64url');
  readonly #sql: Readonly<
    Record<'read' | 'insert' | 'update' | 'due' | 'delete' | 'acquire' | 'renew' | 'release', string>
  >;
  readonly #inFlight = new Map<string, Set<InFlight>>();
  /** Plain reads in flight, shared by every caller that misses L1 on the key meanwhile. */
  readonly #pendingReads = new Map<string, Promise<TokenRecord | undefined>>();
  #closed = false;

  /**
   * Validates every option before opening anything.
   * @throws TypeError naming the option, when an option is invalid.
   */
  constructor(options: PostgresTokenStoreOptions) {
    if (typeof options !== 'object' || options === null) throw invalid('options', 'an object', options);
    const { pool, table = DEFAULT_TABLE, encryptionKey } = options;
    const connectionString = typeof pool === 'string' ? pool : undefined;
    if (connectionString !== undefined && !/^postgres(ql)?:\/\//.test(connectionString)) {
      // Never echoed: a connection string carries the password.
      throw new TypeError(
        'Expected `pool` to be a pg Pool or a postgres:// connection string, got a string that does not start with postgres:// or postgresql://',
      );
    }
    if (connectionString === undefined && !isPool(pool)) {
      throw invalid('pool', 'a pg Pool or a postgres:// connection string', pool);
    }
    if (typeof table !== 'string' || !TABLE_NAME.test(table)) {
      throw invalid('table', 'a lower-case SQL identifier of at most 40 characters (letters, digits, `_`)', table);
    }
    this.#lockTtlMs = integerOption('lockTtlMs', options.lockTtlMs, 10_000, 300, 600_000);
    this.#pollIntervalMs = integerOption('lockPollIntervalMs', options.lockPollIntervalMs, 250, 10, 60_000);
    this.#lockWaitTimeoutMs = integerOption('lockWaitTimeoutMs', options.lockWaitTimeoutMs, 60_000, 100, 3_600_000);
    this.#timeoutMs = integerOption('operationTimeoutMs', options.operationTimeoutMs, 2_000, 50, 60_000);
    const localMax = integerOption('localMax', options.localMax, 10_000, 1, 2 ** 32);
    const keys = encryptionKey === undefined ? undefined : validateEncryptionKeys(encryptionKey);
    this.#codec = new JsonRecordCodec(keys && new RecordCipher(keys));
    this.#table = table;
    this.#sql = statements(table);

    // Everything is valid: only now open resources.
    this.#local = new LRUCache({ max: localMax });
    if (connectionString !== undefined) {
      const owned = new pg.Pool({ connectionString, connectionTimeoutMillis: this.#timeoutMs });
      // Idle connections fail when the server goes away; the next query reports it.
      owned.on('error', () => {});
      this.#pool = owned as unknown as PostgresPool;
      this.#ownsPool = true;
    } else {
      this.#pool = pool as PostgresPool;
      this.#ownsPool = false;
    }
    this.#listener = new NotificationListener(this.#pool, table, {
      onNotification: (payload) => this.#onNotification(payload),
      onListening: () => this.#forgetAll(),
    });
  }

  /**
   * Creates the tables and index if they do not exist ({@link postgresSchemaSql}
   * for this store's table). Idempotent, safe to run from many processes at once.
   * @throws StoreUnavailableError when PostgreSQL refuses or cannot be reached.
   */
  async migrate(): Promise<void> {
    this.#assertOpen();
    await runQuery('migrate', MIGRATE_TIMEOUT_MS, () => this.#pool.query(postgresSchemaSql(this.#table)));
  }

  /** {@inheritDoc @refreshkit/core#TokenStore.get} */
  get(key: string, options?: StoreReadOptions): TokenRecord | undefined | Promise<TokenRecord | undefined> {
    // A fresh read (the lock holder's) must start after its caller's lock: it never joins one in flight.
    if (options?.fresh === true) return this.#read(key);
    const local = this.#local.get(key);
    if (local !== undefined) return local;
    return this.#sharedRead(key);
  }

  /** {@inheritDoc @refreshkit/core#TokenStore.compareAndSet} */
  async compareAndSet(key: string, record: TokenRecord, expectedVersion: number | undefined): Promise<boolean> {
    assertStorableKey(key);
    assertVersion('record.version', record?.version);
    if (expectedVersion !== undefined) assertVersion('expectedVersion', expectedVersion);
    this.#assertOpen();
    this.#listener.start();
    const data = await this.#codec.encode(record, key);
    const values: unknown[] = [
      key,
      String(record.version),
      data,
      timestamp(record.refreshAt),
      timestamp(record.usableUntil),
      record.reauthenticationRequired === true,
      this.#payload(WRITTEN, key),
    ];
    // The keep-alive due time is $8 of an insert, $9 of an update (whose $8 is the expected version).
    if (expectedVersion !== undefined) values.push(String(expectedVersion));
    values.push(record.sweepAt === undefined ? null : timestamp(record.sweepAt));
    const sql = expectedVersion === undefined ? this.#sql.insert : this.#sql.update;
    const flight = this.#track(key);
    try {
      const result = await this.#query('compare-and-set', sql, values);
      const written = result.rowCount === 1;
      // A lost race, or a write overtaken by another process's, means our
      // copy is stale: the next read must go to the table.
      if (written && this.#mayCache(flight)) this.#local.set(key, record);
      else this.#local.delete(key);
      if (written) this.#listener.wake(key);
      return written;
    } finally {
      this.#untrack(key, flight);
    }
  }

  /** {@inheritDoc @refreshkit/core#TokenStore.dueBefore} */
  async dueBefore(time: number, limit: number): Promise<readonly string[]> {
    this.#assertOpen();
    const { rows } = await this.#query('due keys', this.#sql.due, [timestamp(time), limit]);
    return rows.map((row) => String(row.key));
  }

  /** {@inheritDoc @refreshkit/core#TokenStore.delete} */
  async delete(key: string): Promise<void> {
    assertStorableKey(key);
    this.#assertOpen();
    this.#listener.start();
    this.#drop(key);
    await this.#query('delete', this.#sql.delete, [key, this.#payload(WRITTEN, key)]);
    this.#listener.wake(key);
  }

  /**
   * Takes `key`'s refresh lease, waiting for another holder to finish (woken
   * by its notification, or by polling) for at most `lockWaitTimeoutMs`.
   * While held, the lease is renewed every third of `lockTtlMs`, and this
   * process's reads of `key` go to the table, not L1, so the holder's re-read
   * sees what other processes wrote.
   *
   * @throws StoreUnavailableError when PostgreSQL cannot be reached or the lock cannot be had in time.
   */
  async lock(key: string, signal?: AbortSignal): Promise<StoreLock> {
    assertStorableKey(key);
    this.#assertOpen();
    this.#listener.start();
    const holder = randomUUID();
    const deadline = Date.now() + this.#lockWaitTimeoutMs;
    for (;;) {
      signal?.throwIfAborted();
      const wake = this.#listener.next(key);
      try {
        const sentAt = performance.now();
        const taken = await this.#tryAcquire(key, holder);
        if (taken !== undefined) return this.#heldLock(key, holder, sentAt, taken.tookOver);
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new StoreUnavailableError(
            `Refresh lock for key \`${key}\` not acquired within ${this.#lockWaitTimeoutMs} ms`,
          );
        }
        await wake.wait(Math.min(this.#pollIntervalMs, left), signal);
      } finally {
        wake.cancel();
      }
    }
  }

  /**
   * Stops listening, and ends the pool too if the store opened it. Work
   * still in flight then fails with `StoreUnavailableError`; nothing
   * reconnects, so the process can exit. Close the store before ending a
   * pool you passed in: the store holds one of its connections.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    if (this.#ownsPool) await this.#pool.end().catch(() => {});
  }

  /**
   * One query for every plain read of `key` that misses L1 while it is in
   * flight: a cold process hit by thousands of callers at once would
   * otherwise queue a query per caller behind the pool and time them out.
   */
  #sharedRead(key: string): Promise<TokenRecord | undefined> {
    const pending = this.#pendingReads.get(key);
    if (pending !== undefined) return pending;
    const read = this.#read(key).finally(() => {
      if (this.#pendingReads.get(key) === read) this.#pendingReads.delete(key);
    });
    this.#pendingReads.set(key, read);
    return read;
  }

  async #read(key: string): Promise<TokenRecord | undefined> {
    assertStorableKey(key);
    this.#assertOpen();
    this.#listener.start();
    const flight = this.#track(key);
    try {
      const { rows } = await this.#query('read', this.#sql.read, [key]);
      const row = rows[0];
      if (row === undefined) {
        this.#local.delete(key);
        return undefined;
      }
      const record = await this.#decode(key, row);
      if (this.#mayCache(flight)) this.#local.set(key, record);
      else this.#local.delete(key);
      return record;
    } catch (error) {
      if (error instanceof CorruptRecordError) this.#local.delete(key);
      throw error;
    } finally {
      this.#untrack(key, flight);
    }
  }

  #decode(key: string, row: Record<string, unknown>): Promise<TokenRecord> {
    const { version, data } = row;
    if (typeof version !== 'string' || !CANONICAL_VERSION.test(version) || !Number.isSafeInteger(Number(version))) {
      throw new CorruptRecordError(key, 'the version is not a positive safe integer');
    }
    const storedVersion = Number(version);
    if (typeof data !== 'string') throw new CorruptRecordError(key, 'the data is not text', { storedVersion });
    return this.#codec.decode(key, key, storedVersion, data);
  }

  /**
   * One attempt at the lease. If it times out, the insert may still commit
   * later, taking a lease nobody renews; a release of the same holder undoes
   * that (or the lease expires after `lockTtlMs`). Resolves undefined when
   * another holder has the lease, else whether it was taken over: a
   * released lease is deleted, so a row still there belonged to a holder
   * whose lease ran out unreleased.
   */
  async #tryAcquire(key: string, holder: string): Promise<{ tookOver: boolean } | undefined> {
    try {
      const result = await this.#query('lock', this.#sql.acquire, [key, holder, this.#lockTtlMs]);
      if (result.rowCount !== 1) return undefined;
      return { tookOver: (result.rows[0] as { took_over?: unknown } | undefined)?.took_over === true };
    } catch (error) {
      void this.#query('lock release', this.#sql.release, [key, holder, this.#payload(RELEASED, key)]).catch(() => {});
      throw error;
    }
  }

  /** The held lease, renewed by a watchdog until released (see LockWatchdog). */
  #heldLock(key: string, holder: string, takenAt: number, tookOver: boolean): StoreLock {
    const watchdog = new LockWatchdog({
      key,
      ttlMs: this.#lockTtlMs,
      takenAt,
      renew: async () => {
        const renewal = await runQuery('lock renewal', this.#timeoutMs, () =>
          this.#pool.query(this.#sql.renew, [key, holder, this.#lockTtlMs]),
        );
        return renewal.rowCount === 1;
      },
    });
    let released = false;
    return {
      lost: watchdog.lost,
      tookOver,
      release: async () => {
        if (released) return;
        released = true;
        watchdog.stop();
        await this.#query('lock release', this.#sql.release, [key, holder, this.#payload(RELEASED, key)]).catch(() => {
          // An unreleased lease expires on its own after lockTtlMs.
        });
        this.#listener.wake(key);
      },
    };
  }

  #query(operation: string, sql: string, values: readonly unknown[]): Promise<PostgresQueryResult> {
    this.#assertOpen();
    return runQuery(operation, this.#timeoutMs, () => this.#pool.query(sql, values));
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreUnavailableError('The PostgreSQL token store is closed');
  }

  #payload(kind: string, key: string): string {
    return `${kind}${this.#instance} ${key}`;
  }

  #onNotification(payload: string): void {
    const space = payload.indexOf(' ');
    if (space < 2) return;
    const kind = payload[0];
    const key = payload.slice(space + 1);
    if (kind === WRITTEN && payload.slice(1, space) !== this.#instance) this.#drop(key);
    this.#listener.wake(key);
  }

  /**
   * Whether what a read or write brought back may go into L1: only while a
   * connection listens (else nothing would tell us when it goes stale), and
   * only if no notification about the key arrived meanwhile.
   */
  #mayCache(flight: InFlight): boolean {
    return !flight.stale && this.#listener.listening;
  }

  /** Drops `key` from L1, and keeps reads and writes in flight from putting back what they bring. */
  #drop(key: string): void {
    this.#local.delete(key);
    // A read that started before the change may bring back what it replaced: later readers start their own.
    this.#pendingReads.delete(key);
    for (const flight of this.#inFlight.get(key) ?? []) flight.stale = true;
  }

  /** The listener (re)connected: notifications may have been missed, so nothing in L1 can be vouched for. */
  #forgetAll(): void {
    this.#local.clear();
    this.#pendingReads.clear();
    for (const flights of this.#inFlight.values()) for (const flight of flights) flight.stale = true;
    this.#listener.wakeAll();
  }

  #track(key: string): InFlight {
    const flight: InFlight = { stale: false };
    let flights = this.#inFlight.get(key);
    if (flights === undefined) this.#inFlight.set(key, (flights = new Set()));
    flights.add(flight);
    return flight;
  }

  #untrack(key: string, flight: InFlight): void {
    const flights = this.#inFlight.get(key);
    flights?.delete(flight);
    if (flights?.size === 0) this.#inFlight.delete(key);
  }
}

/** The store's statements for `table`. Every write notifies in the same statement, so the notification is sent exactly when the write commits. */
function statements(table: string) {
  const locks = `${table}_locks`;
  const notify = (payload: string) => `SELECT pg_notify('${table}', ${payload})`;
  const columns = 'key, version, data, refresh_at, usable_until, reauthentication_required, sweep_at';
  return {
    read: `SELECT version::text AS version, data FROM ${table} WHERE key = $1`,
    insert: `WITH w AS (INSERT INTO ${table} (${columns}) VALUES ($1, $2, $3, $4, $5, $6, $8) ON CONFLICT (key) DO NOTHING RETURNING 1) ${notify('$7')} FROM w`,
    update: `WITH w AS (UPDATE ${table} SET version = $2, data = $3, refresh_at = $4, usable_until = $5, reauthentication_required = $6, sweep_at = $9, updated_at = now() WHERE key = $1 AND version = $8 RETURNING 1) ${notify('$7')} FROM w`,
    due: `SELECT key FROM ${table} WHERE sweep_at <= $1 ORDER BY sweep_at LIMIT $2`,
    delete: `WITH d AS (DELETE FROM ${table} WHERE key = $1 RETURNING 1) ${notify('$2')} FROM d`,
    acquire: `INSERT INTO ${locks} (key, holder, expires_at) VALUES ($1, $2, clock_timestamp() + $3::integer * interval '1 millisecond') ON CONFLICT (key) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at WHERE ${locks}.expires_at <= clock_timestamp() RETURNING (xmax::text <> '0') AS took_over`,
    renew: `UPDATE ${locks} SET expires_at = clock_timestamp() + $3::integer * interval '1 millisecond' WHERE key = $1 AND holder = $2`,
    release: `WITH d AS (DELETE FROM ${locks} WHERE key = $1 AND holder = $2 RETURNING 1) ${notify('$3')} FROM d`,
  } as const;
}
