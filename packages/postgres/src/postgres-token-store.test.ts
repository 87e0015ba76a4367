import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { CorruptRecordError, StoreUnavailableError, TokenCache, type TokenRecord } from '@refreshkit/core';
import { TestPostgres } from '../../../test/support/postgres-server.js';
import { ScriptedEndpoint } from '../../../test/support/scripted-endpoint.js';
import { waitFor } from '../../../test/support/wait-for.js';
import { PostgresTokenStore } from './postgres-token-store.js';
import type { PostgresPool, PostgresTokenStoreOptions } from './postgres-token-store-options.js';
import { POSTGRES_SCHEMA_SQL, postgresSchemaSql } from './schema-sql.js';

/** With `PG_URL`, the server is not ours to stop. */
const OWNED = !process.env.PG_URL;

let server: TestPostgres;
let admin: pg.Pool;
const pools: pg.Pool[] = [];
const stores: PostgresTokenStore[] = [];

beforeAll(async () => {
  server = await TestPostgres.start();
  admin = server.pool();
});
afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()));
  await Promise.all([admin, ...pools].map((pool) => pool.end().catch(() => {})));
  await server?.destroy();
});

let tableSerial = 0;
/** A table no other test uses, migrated. */
async function freshTable(): Promise<string> {
  const table = `t${process.pid}_${++tableSerial}`;
  await admin.query(postgresSchemaSql(table));
  return table;
}

/** A store on its own pool (as another process would have). */
function open(table: string, options: Omit<PostgresTokenStoreOptions, 'pool' | 'table'> = {}): PostgresTokenStore {
  const pool = server.pool();
  pools.push(pool);
  const store = new PostgresTokenStore({ pool, table, lockPollIntervalMs: 20, ...options });
  stores.push(store);
  return store;
}

/** Waits until `count` stores on `table` listen: only then do they keep records in L1. */
async function listening(table: string, count = 1): Promise<void> {
  await waitFor(async () => {
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = $1`, [
      `LISTEN ${table}`,
    ]);
    return (rows[0] as { n: number }).n >= count;
  }, `${count} listener(s) on ${table}`);
}

/** A pool that counts the queries sent through it. */
function countingPool(): { pool: PostgresPool; queries: () => number } {
  const pool = server.pool();
  pools.push(pool);
  let count = 0;
  return {
    pool: {
      query: (text, values) => {
        count++;
        return pool.query(text, values as unknown[]);
      },
      connect: () => pool.connect(),
      end: () => pool.end(),
    } as PostgresPool,
    queries: () => count,
  };
}

const T0 = Date.now();
function record(version: number, accessToken = `access-${version}`): TokenRecord {
  return {
    tokens: { accessToken, refreshToken: `refresh-${version}`, expiresAt: T0 + 3_600_000 },
    version,
    refreshAt: T0 + 1_800_000,
    usableUntil: T0 + 3_600_000,
  };
}

const key32 = (): Buffer => randomBytes(32);

describe('PostgresTokenStore options', () => {
  const pool = { query: async () => ({ rows: [], rowCount: 0 }), connect: async () => undefined, end: async () => {} };
  it.each([
    [{}, /^Expected `pool` to be a pg Pool or a postgres:\/\/ connection string, got `undefined`/],
    [{ pool: 42 }, /^Expected `pool` to be a pg Pool/],
    [{ pool, table: 'Bad-Name' }, /^Expected `table` to be a lower-case SQL identifier .*, got `Bad-Name` \(string\)$/],
    [{ pool, table: 'x; DROP TABLE users' }, /^Expected `table`/],
    [{ pool, lockTtlMs: 100 }, /^Expected `lockTtlMs` to be an integer from 300 to 600000, got `100` \(number\)$/],
    [{ pool, lockPollIntervalMs: 1.5 }, /^Expected `lockPollIntervalMs` to be an integer from 10 to 60000/],
    [{ pool, lockWaitTimeoutMs: '5' }, /^Expected `lockWaitTimeoutMs` to be an integer/],
    [{ pool, operationTimeoutMs: 0 }, /^Expected `operationTimeoutMs` to be an integer from 50 to 60000/],
    [{ pool, localMax: 0 }, /^Expected `localMax` to be an integer from 1/],
    [
      { pool, encryptionKey: 'secret' },
      /^Expected `encryptionKey` to be an object `\{ id, key \}`, got a value of type string/,
    ],
    [
      { pool, encryptionKey: { id: 'k1', key: Buffer.alloc(16) } },
      /^Expected `encryptionKey\.key` to be exactly 32 bytes/,
    ],
    [{ pool, encryptionKey: [] }, /^Expected `encryptionKey` to hold at least one key/],
  ])('rejects %o with a TypeError naming the option', (options, message) => {
    expect(() => new PostgresTokenStore(options as unknown as PostgresTokenStoreOptions)).toThrow(
      expect.objectContaining({ name: 'TypeError', message: expect.stringMatching(message) }),
    );
  });

  it('never echoes a connection string (it carries the password), nor a bad option given with one', () => {
    const error = (() => {
      try {
        new PostgresTokenStore({ pool: 'mysql://user:hunter2@db/app' });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(TypeError);
    expect(error!.message).not.toContain('hunter2');
    expect(() => new PostgresTokenStore({ pool: 'postgres://u:hunter2@127.0.0.1:1/x', lockTtlMs: -1 })).toThrow(
      /^Expected `lockTtlMs`/,
    );
  });
});

describe('PostgresTokenStore schema', () => {
  it('migrate() creates the tables, and running it again (or concurrently) changes nothing', async () => {
    const table = `m${process.pid}`;
    const store = open(table);
    await Promise.all([store.migrate(), store.migrate(), open(table).migrate()]);
    await store.migrate();
    const { rows } = await admin.query(
      `SELECT table_name, column_name, data_type FROM information_schema.columns
       WHERE table_name IN ($1, $2) ORDER BY table_name, ordinal_position`,
      [table, `${table}_locks`],
    );
    expect(rows.map((r: { table_name: string; column_name: string }) => `${r.table_name}.${r.column_name}`)).toEqual([
      `${table}.key`,
      `${table}.version`,
      `${table}.data`,
      `${table}.refresh_at`,
      `${table}.usable_until`,
      `${table}.reauthentication_required`,
      `${table}.updated_at`,
      `${table}.sweep_at`,
      `${table}_locks.key`,
      `${table}_locks.holder`,
      `${table}_locks.expires_at`,
    ]);
    expect(await store.compareAndSet('k', record(1), undefined)).toBe(true);
  });

  it('POSTGRES_SCHEMA_SQL, run by hand, makes the default tables a store with default options works on', async () => {
    await admin.query(POSTGRES_SCHEMA_SQL);
    await admin.query(POSTGRES_SCHEMA_SQL);
    const pool = server.pool();
    pools.push(pool);
    const store = new PostgresTokenStore({ pool });
    stores.push(store);
    expect(await store.compareAndSet('default-table', record(1), undefined)).toBe(true);
    const { rows } = await admin.query(`SELECT version, refresh_at FROM refreshkit_tokens WHERE key = 'default-table'`);
    expect(rows).toEqual([{ version: '1', refresh_at: expect.any(Date) }]);
  });

  it('keeps the schedule in indexed columns, so a keep-alive sweep is a range query', async () => {
    const table = await freshTable();
    const store = open(table);
    const due = { ...record(1), refreshAt: Date.now() - 1_000 };
    await store.compareAndSet('due', due, undefined);
    await store.compareAndSet('later', record(1), undefined);
    await store.compareAndSet('dead', { ...due, reauthenticationRequired: true }, undefined);
    const { rows } = await admin.query(
      `SELECT key FROM ${table} WHERE refresh_at <= now() AND NOT reauthentication_required`,
    );
    expect(rows).toEqual([{ key: 'due' }]);
  });
});

describe('PostgresTokenStore keys', () => {
  it('rejects keys with a lone surrogate or NUL with a TypeError, writing nothing', async () => {
    const table = await freshTable();
    const store = open(table);
    for (const key of ['lone-\uD800', 'lone-\uDC00-low', 'nul-\0']) {
      await expect(Promise.resolve().then(() => store.get(key))).rejects.toThrow(TypeError);
      await expect(store.compareAndSet(key, record(1), undefined)).rejects.toThrow(/well-formed Unicode/);
      await expect(store.delete(key)).rejects.toThrow(TypeError);
      await expect(store.lock(key)).rejects.toThrow(TypeError);
    }
    expect((await admin.query(`SELECT count(*)::int AS n FROM ${table}`)).rows).toEqual([{ n: 0 }]);
  });

  it('keeps any well-formed key exactly, surrogate pairs included', async () => {
    const table = await freshTable();
    const [a, b] = [open(table), open(table)];
    const key = 'user:😀:ü:%_\\\'"';
    await a.compareAndSet(key, record(1), undefined);
    expect(await b.get(key)).toEqual(record(1));
    expect(await b.get("user:😀:ü:%_\\'")).toBeUndefined();
  });
});

describe('PostgresTokenStore local L1', () => {
  it('answers a hit from memory, synchronously and without a query; `fresh` reads the table', async () => {
    const table = await freshTable();
    const { pool, queries } = countingPool();
    const store = new PostgresTokenStore({ pool, table });
    stores.push(store);
    await store.get('warm-up');
    await listening(table);
    await store.compareAndSet('k', record(1), undefined);
    const before = queries();
    expect(store.get('k')).toEqual(record(1));
    expect(queries()).toBe(before);
    await store.get('k', { fresh: true });
    expect(queries()).toBe(before + 1);
  });

  it('sends one query for all plain reads of a key that miss L1 at once; a fresh read always sends its own', async () => {
    const table = await freshTable();
    await open(table).compareAndSet('k', record(1), undefined);
    const { pool, queries } = countingPool();
    const store = new PostgresTokenStore({ pool, table });
    stores.push(store);
    const before = queries();
    const reads = await Promise.all(Array.from({ length: 2_500 }, () => store.get('k')));
    expect(reads).toEqual(Array(2_500).fill(record(1)));
    expect(queries()).toBe(before + 1);
    await Promise.all([store.get('k', { fresh: true }), store.get('k', { fresh: true })]);
    expect(queries()).toBe(before + 3);
  });

  it("drops a record from other processes' L1 when it is written or deleted (NOTIFY)", async () => {
    const table = await freshTable();
    const [a, b] = [open(table), open(table)];
    await a.compareAndSet('k', record(1), undefined);
    await b.get('warm-up');
    await listening(table, 2);
    expect(await b.get('k')).toEqual(record(1));
    // Answered synchronously: b holds it in L1.
    expect(b.get('k')).toEqual(record(1));
    await a.compareAndSet('k', record(2), 1);
    await waitFor(async () => (await b.get('k'))?.version === 2, "b's L1 dropping version 1");
    await a.delete('k');
    await waitFor(async () => (await b.get('k')) === undefined, "b's L1 dropping the deleted record");
  });

  it('clears L1 when its listening connection comes back, since notifications were missed meanwhile', async () => {
    const table = await freshTable();
    const [a, b] = [open(table), open(table)];
    await a.compareAndSet('k', record(1), undefined);
    await b.get('warm-up');
    await listening(table, 2);
    expect(await b.get('k')).toEqual(record(1));
    // Write behind b's back without a notification, then cut every listener.
    await admin.query(`UPDATE ${table} SET version = 2, data = $2 WHERE key = $1`, [
      'k',
      JSON.stringify({ t: record(2).tokens, r: null, u: null }),
    ]);
    expect(b.get('k')).toEqual(record(1));
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN ${table}'`);
    await waitFor(async () => (await b.get('k'))?.version === 2, "b's L1 cleared after its listener reconnected");
  });

  it('a fresh read (as a lock holder reads) sees what another process wrote; a plain read keeps serving L1', async () => {
    const table = await freshTable();
    const a = open(table);
    await a.compareAndSet('k', record(1), undefined);
    await listening(table);
    // Written while listening, so kept in L1.
    await a.compareAndSet('k', record(2), 1);
    expect(await a.get('k')).toEqual(record(2));
    // Behind a's back, with no notification: only a read of the table sees it.
    await admin.query(`UPDATE ${table} SET version = 3, data = $2 WHERE key = $1`, [
      'k',
      JSON.stringify({ t: record(3).tokens, r: null, u: null }),
    ]);
    const lock = await a.lock('k');
    expect((await a.get('k'))?.version).toBe(2);
    expect((await a.get('k', { fresh: true }))?.version).toBe(3);
    await lock.release();
  });
});

describe('PostgresTokenStore lease', () => {
  it('renews a held lease past its lifetime: nobody else gets in, and it is not lost', async () => {
    const table = await freshTable();
    const [a, b] = [open(table, { lockTtlMs: 300 }), open(table, { lockTtlMs: 300 })];
    const held = await a.lock('k');
    // Three lifetimes: without renewal the lease would have expired twice.
    await expect(b.lock('k', AbortSignal.timeout(900))).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(held.lost!.aborted).toBe(false);
    await held.release();
    await (await b.lock('k')).release();
  });

  (OWNED ? it : it.skip)(
    'aborts `lost` when the lease cannot be renewed (database gone; needs an owned server, not PG_URL), with a StoreUnavailableError',
    async () => {
      const table = await freshTable();
      const store = open(table, { lockTtlMs: 300, operationTimeoutMs: 100 });
      const held = await store.lock('k');
      await server.stop();
      try {
        await new Promise((resolve) => held.lost!.addEventListener('abort', resolve, { once: true }));
        expect(held.lost!.reason).toBeInstanceOf(StoreUnavailableError);
      } finally {
        await server.restart();
      }
      await held.release();
    },
  );
});

describe('PostgresTokenStore encryption at rest', () => {
  it('round-trips encrypted records; the table holds no token', async () => {
    const table = await freshTable();
    const encryptionKey = { id: 'k1', key: key32() };
    const [a, b] = [open(table, { encryptionKey }), open(table, { encryptionKey })];
    await a.compareAndSet('k', record(1, 'very-secret-access'), undefined);
    expect((await b.get('k'))?.tokens.accessToken).toBe('very-secret-access');
    const { rows } = await admin.query(`SELECT data FROM ${table}`);
    expect(JSON.stringify(rows)).not.toContain('very-secret-access');
    expect(JSON.stringify(rows)).not.toContain('refresh-1');
  });

  it('reads records under an older key during rotation, and writes under the first', async () => {
    const table = await freshTable();
    const [oldKey, newKey] = [
      { id: 'old', key: key32() },
      { id: 'new', key: key32().toString('base64') },
    ];
    await open(table, { encryptionKey: oldKey }).compareAndSet('k', record(1), undefined);
    const rotated = open(table, { encryptionKey: [newKey, oldKey] });
    expect(await rotated.get('k')).toEqual(record(1));
    await rotated.compareAndSet('k', record(2), 1);
    expect(await open(table, { encryptionKey: newKey }).get('k')).toEqual(record(2));
  });

  it('a wrong key, a tampered row, a row copied to another key, or a missing key is a CorruptRecordError with the stored version', async () => {
    const table = await freshTable();
    const encryptionKey = { id: 'k1', key: key32() };
    const store = open(table, { encryptionKey });
    await store.compareAndSet('k', record(3), undefined);
    const expectCorrupt = async (reader: PostgresTokenStore, key: string, why: RegExp) => {
      const error = await Promise.resolve(reader.get(key, { fresh: true })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CorruptRecordError);
      expect(error).toMatchObject({ key, storedVersion: 3, message: expect.stringMatching(why) });
    };
    await expectCorrupt(open(table, { encryptionKey: { id: 'k1', key: key32() } }), 'k', /decryption failed/);
    await expectCorrupt(open(table, { encryptionKey: { id: 'k2', key: key32() } }), 'k', /unknown key id `k1`/);
    await expectCorrupt(open(table), 'k', /no encryption key is configured/);
    await admin.query(`INSERT INTO ${table} (key, version, data) SELECT 'copy', version, data FROM ${table}`);
    await expectCorrupt(store, 'copy', /decryption failed/);
    const { rows } = await admin.query(`SELECT data FROM ${table} WHERE key = 'k'`);
    const data = JSON.parse((rows[0] as { data: string }).data) as { t: { c: string } };
    const bytes = Buffer.from(data.t.c, 'base64');
    bytes[0] = bytes[0]! ^ 1;
    data.t.c = bytes.toString('base64');
    await admin.query(`UPDATE ${table} SET data = $1 WHERE key = 'k'`, [JSON.stringify(data)]);
    await expectCorrupt(store, 'k', /decryption failed/);
    // The version stays usable: a new write overwrites the corrupt row.
    expect(await store.compareAndSet('k', record(4), 3)).toBe(true);
    expect(await open(table, { encryptionKey }).get('k')).toEqual(record(4));
  });
});

describe('PostgresTokenStore errors', () => {
  it("turns pg's failures into StoreUnavailableError without pg's query text, values or error", async () => {
    const table = await freshTable();
    const store = open(table);
    await store.compareAndSet('k', record(1, 'secret-token-value'), undefined);
    await admin.query(`ALTER TABLE ${table} ADD CONSTRAINT no_v2 CHECK (version < 2)`);
    const error = (await store
      .compareAndSet('k', record(2, 'secret-token-value'), 1)
      .catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(error.message).toBe('PostgreSQL failed on compare-and-set (error 23514)');
    expect(error.cause).toBeUndefined();
    await admin.query(`DROP TABLE ${table}`);
    const readError = (await Promise.resolve(store.get('other')).catch((e: unknown) => e)) as Error;
    expect(readError).toBeInstanceOf(StoreUnavailableError);
    expect(readError.message).not.toMatch(/SELECT|FROM|relation/);
  });

  it('fails with StoreUnavailableError after close(), and a store it opened from a URL ends its pool', async () => {
    const table = await freshTable();
    const store = new PostgresTokenStore({ pool: server.url, table });
    expect(await store.compareAndSet('k', record(1), undefined)).toBe(true);
    await store.close();
    await expect(Promise.resolve().then(() => store.get('k', { fresh: true }))).rejects.toThrow(StoreUnavailableError);
    await expect(store.lock('k')).rejects.toThrow(/closed/);
  });
});

describe('PostgresTokenStore outage', () => {
  (OWNED ? it : it.skip)(
    'serves valid tokens from L1 while PostgreSQL is down, fails refreshes with StoreUnavailableError, and recovers on its own (needs an owned server, not PG_URL)',
    async () => {
      const table = await freshTable();
      const store = open(table, { operationTimeoutMs: 500 });
      const endpoint = new ScriptedEndpoint(Date.now);
      const cache = new TokenCache({ endpoint, store });
      await store.get('warm-up');
      await listening(table);
      await cache.set('valid', { accessToken: 'still-valid', refreshToken: 'r1', expiresAt: Date.now() + 3_600_000 });
      await cache.set('expired', { accessToken: 'old', refreshToken: 'r2', expiresAt: Date.now() - 1_000 });
      await server.stop();
      try {
        expect(await cache.getAccessToken('valid')).toBe('still-valid');
        await expect(cache.getAccessToken('expired')).rejects.toThrow(StoreUnavailableError);
        expect(endpoint.calls).toHaveLength(0);
      } finally {
        await server.restart();
      }
      let token: string | undefined;
      await waitFor(async () => {
        token = await cache.getAccessToken('expired');
        return true;
      }, 'the refresh after PostgreSQL came back');
      expect(token).toBe('access-1');
      expect(endpoint.calls).toEqual([{ grant: 'refresh_token', refreshToken: 'r2' }]);
      expect(await cache.getAccessToken('valid')).toBe('still-valid');
      const { rows } = await admin.query(`SELECT key, version FROM ${table} ORDER BY key`);
      expect(rows).toEqual([
        { key: 'expired', version: '2' },
        { key: 'valid', version: '1' },
      ]);
    },
  );
});

describe('PostgresTokenStore grant lifecycle', () => {
  it('round-trips grant health and the keep-alive due time; a row written without them reads as healthy', async () => {
    const table = await freshTable();
    const [a, b] = [open(table), open(table)];
    const failing: TokenRecord = {
      ...record(1),
      health: {
        state: 'failing',
        code: 'ERR_TOKEN_ENDPOINT_UNAVAILABLE',
        since: T0,
        failures: 2,
        nextAttemptAt: T0 + 60_000,
      },
      sweepAt: T0 + 1_000,
    };
    expect(await a.compareAndSet('k', failing, undefined)).toBe(true);
    expect(await b.get('k', { fresh: true })).toEqual(failing);
    await admin.query(`INSERT INTO ${table} (key, version, data) VALUES ('old', 1, $1)`, [
      JSON.stringify({ t: record(1).tokens, r: null, u: null }),
    ]);
    const old = await b.get('old', { fresh: true });
    expect(old?.health).toBeUndefined();
    expect(old?.sweepAt).toBeUndefined();
  });

  it('lists due keys from the indexed sweep_at column, oldest first, kept by every write and delete', async () => {
    const table = await freshTable();
    const store = open(table);
    await store.compareAndSet('late', { ...record(1), sweepAt: T0 + 3_000 }, undefined);
    await store.compareAndSet('early', { ...record(1), sweepAt: T0 + 1_000 }, undefined);
    await store.compareAndSet('never', record(1), undefined);
    await store.compareAndSet('gone', { ...record(1), sweepAt: T0 }, undefined);
    await store.delete('gone');
    expect(await store.dueBefore(T0 + 5_000, 10)).toEqual(['early', 'late']);
    expect(await store.dueBefore(T0 + 5_000, 1)).toEqual(['early']);
    await store.compareAndSet('early', { ...record(2), sweepAt: T0 + 9_000 }, 1);
    expect(await store.dueBefore(T0 + 5_000, 10)).toEqual(['late']);
    const { rows } = await admin.query(`SELECT indexname FROM pg_indexes WHERE tablename = $1`, [table]);
    expect(rows.map((row: { indexname: string }) => row.indexname)).toContain(`${table}_sweep_at_idx`);
  });
});
