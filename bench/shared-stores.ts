// The shared stores the multi-process benchmarks compare side by side: a
// private redis-server and a private PostgreSQL (the test suites' own, on
// free loopback ports), each handed out as fresh namespaces that children
// open by description (see test/support/cache-process-store.ts).
import { TokenCache, type TokenSet } from '@refreshkit/core';
import { postgresSchemaSql } from '@refreshkit/postgres';
import { openCacheProcessStore, type CacheProcessStoreSpec } from '../test/support/cache-process-store.js';
import { TestPostgres } from '../test/support/postgres-server.js';
import { TestRedis } from '../test/support/redis-server.js';
import { unusedEndpoint } from './harness.js';

/** The kinds of shared store, in the order results list them. */
export const STORE_KINDS = ['redis', 'postgres'] as const;

/** One kind of shared store. */
export type StoreKind = (typeof STORE_KINDS)[number];

/** Both servers, running. */
export class SharedStores {
  #serial = 0;

  private constructor(
    private readonly redis: TestRedis,
    private readonly postgres: TestPostgres,
  ) {}

  /** Starts a redis-server and a PostgreSQL cluster side by side. */
  static async start(): Promise<SharedStores> {
    const [redis, postgres] = await Promise.all([TestRedis.start(), TestPostgres.start()]);
    return new SharedStores(redis, postgres);
  }

  /** A namespace no earlier call handed out: a key prefix, or a migrated table. */
  async fresh(kind: StoreKind): Promise<CacheProcessStoreSpec> {
    const name = `bench${process.pid}_${++this.#serial}`;
    if (kind === 'redis') return { kind, url: this.redis.url, prefix: `${name}:` };
    const pool = this.postgres.pool();
    await pool.query(postgresSchemaSql(name));
    await pool.end();
    return { kind, url: this.postgres.url, table: name };
  }

  /** Writes `tokens` for each key through a cache of its own on the store `spec` names. */
  async seed(spec: CacheProcessStoreSpec, tokens: ReadonlyMap<string, TokenSet>): Promise<void> {
    const { store, close } = await openCacheProcessStore(spec);
    const cache = new TokenCache({ endpoint: unusedEndpoint, store });
    for (const [key, set] of tokens) await cache.set(key, set);
    await cache.close();
    await close();
  }

  /** Stops both servers. */
  async stop(): Promise<void> {
    if (this.redis.owned) await this.redis.stop();
    await this.postgres.destroy();
  }
}

/** Starts both servers, runs `measure` on each kind of store in turn, and stops them. */
export async function onEachStore<T>(measure: (stores: SharedStores, kind: StoreKind) => Promise<T>): Promise<T[]> {
  const stores = await SharedStores.start();
  try {
    const outcomes: T[] = [];
    for (const kind of STORE_KINDS) outcomes.push(await measure(stores, kind));
    return outcomes;
  } finally {
    await stores.stop();
  }
}
