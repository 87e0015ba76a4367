// The shared store a child process of a multi-process test or benchmark
// opens, by kind: one description travels as JSON from the parent, so one
// child harness serves every shared store.
import type { TokenStore } from '@refreshkit/core';
import { PostgresTokenStore } from '@refreshkit/postgres';
import { RedisTokenStore } from '@refreshkit/redis';

/** Which shared store a child opens, and where. */
export type CacheProcessStoreSpec =
  | {
      readonly kind: 'redis';
      readonly url: string;
      readonly prefix: string;
      /** Connect through a client of this ioredis package (otherwise the store connects to the URL itself). */
      readonly ioredis?: 'ioredis' | 'ioredis5';
    }
  | { readonly kind: 'postgres'; readonly url: string; readonly table: string };

/** Settings every child store takes from the parent, whatever its kind. */
export interface CacheProcessStoreTuning {
  readonly lockTtlMs?: number;
  readonly lockPollIntervalMs?: number;
}

/** An open store and how to let go of everything it opened. */
export interface OpenedStore {
  readonly store: TokenStore;
  close(): Promise<void>;
}

/** Opens the store `spec` describes. */
export async function openCacheProcessStore(
  spec: CacheProcessStoreSpec,
  tuning: CacheProcessStoreTuning = {},
): Promise<OpenedStore> {
  if (spec.kind === 'postgres') {
    const store = new PostgresTokenStore({
      pool: spec.url,
      table: spec.table,
      ...tuning,
      // The machine running the suites is shared: a slow query there is load, not an outage.
      operationTimeoutMs: 10_000,
    });
    return { store, close: () => store.close() };
  }
  const client =
    spec.ioredis === undefined
      ? undefined
      : new (await import(spec.ioredis)).Redis(spec.url, { maxRetriesPerRequest: 1 });
  client?.on('error', () => {});
  const store = new RedisTokenStore({ redis: client ?? spec.url, prefix: spec.prefix, ...tuning });
  return {
    store,
    close: async () => {
      await store.close();
      client?.disconnect();
    },
  };
}
