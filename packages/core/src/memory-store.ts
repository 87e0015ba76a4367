import { LRUCache } from 'lru-cache';
import type { TokenRecord, TokenStore } from './token-store.js';
import { assertIntegerInRange } from './validate.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most keys held; the least recently used beyond it are evicted (a cache
   * with `load` reads them back on the next miss).
   * Range: integer from 1 to 2^32.
   * @default 10_000
   */
  readonly max?: number;
}

/**
 * The default store: one process's records in a bounded LRU. Reads are
 * synchronous so a cache hit costs no extra await.
 */
export class MemoryStore implements TokenStore {
  readonly #records: LRUCache<string, TokenRecord>;

  constructor(options: MemoryStoreOptions = {}) {
    const max = options.max ?? 10_000;
    assertIntegerInRange('max', max, 1, 2 ** 32);
    this.#records = new LRUCache({ max });
  }

  /** Number of records held. */
  get size(): number {
    return this.#records.size;
  }

  /** {@inheritDoc TokenStore.get} */
  get(key: string): TokenRecord | undefined {
    return this.#records.get(key);
  }

  /** {@inheritDoc TokenStore.compareAndSet} */
  compareAndSet(key: string, record: TokenRecord, expectedVersion: number | undefined): boolean {
    // peek: a version check must not count as a use for LRU order.
    if (this.#records.peek(key)?.version !== expectedVersion) return false;
    this.#records.set(key, record);
    return true;
  }

  /**
   * {@inheritDoc TokenStore.dueBefore}
   *
   * Scans the bounded LRU (at most `max` records, without touching their
   * recency): memory is the one store where a scan is as cheap as an index.
   */
  dueBefore(time: number, limit: number): string[] {
    const due: { key: string; at: number }[] = [];
    for (const [key, record] of this.#records.entries()) {
      const at = record.sweepAt;
      if (at !== undefined && at <= time) due.push({ key, at });
    }
    return due
      .sort((a, b) => a.at - b.at)
      .slice(0, limit)
      .map(({ key }) => key);
  }

  /** {@inheritDoc TokenStore.delete} */
  delete(key: string): void {
    this.#records.delete(key);
  }
}
