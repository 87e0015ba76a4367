import {
  MemoryStore,
  StoreUnavailableError,
  type StoreLock,
  type StoreReadOptions,
  type TokenRecord,
  type TokenStore,
} from '@refreshkit/core';

interface Holder {
  readonly key: string;
  readonly controller: AbortController;
  released: boolean;
}

/**
 * A store shared by several caches in one test, standing in for a store
 * shared between processes: one record per key, a per-key refresh lock whose
 * `lost` signal a test can fire (`lapse`), and an outage switch (`down`)
 * under which every read of the shared source, write and lock fails.
 * `process()` gives each cache its own view with a local copy (an L1): plain
 * reads answer from it, even while the shared source is down; `fresh` reads
 * go to the shared source, as the store contract says.
 */
export class LockableStore {
  readonly shared = new MemoryStore();
  /** While true, the shared source is unreachable. */
  down = false;
  /** Every lock granted, in order: key and whether it was lost before release. */
  readonly grants: { key: string; lost: boolean }[] = [];
  readonly #holders = new Map<string, Holder>();
  readonly #waiters = new Map<string, (() => void)[]>();

  /** A view of the store for one process (one cache), with its own local copy. */
  process(): TokenStore {
    const local = new Map<string, TokenRecord>();
    const readShared = (key: string): TokenRecord | undefined => {
      this.#check();
      const record = this.shared.get(key);
      if (record === undefined) local.delete(key);
      else local.set(key, record);
      return record;
    };
    return {
      get: (key: string, options?: StoreReadOptions) => {
        if (options?.fresh !== true && local.has(key)) return local.get(key);
        // The shared source is remote: an outage is a rejected read, as an async store's would be.
        return this.down ? Promise.reject(new StoreUnavailableError('store down (test)')) : readShared(key);
      },
      compareAndSet: (key: string, record: TokenRecord, expectedVersion: number | undefined) => {
        this.#check();
        const written = this.shared.compareAndSet(key, record, expectedVersion);
        if (written) local.set(key, record);
        else local.delete(key);
        return written;
      },
      delete: (key: string) => {
        this.#check();
        this.shared.delete(key);
        local.delete(key);
      },
      lock: (key: string) => this.lock(key),
    };
  }

  async lock(key: string): Promise<StoreLock> {
    while (this.#holders.has(key)) {
      await new Promise<void>((wake) => {
        const queue = this.#waiters.get(key) ?? [];
        queue.push(wake);
        this.#waiters.set(key, queue);
      });
    }
    this.#check();
    const holder: Holder = { key, controller: new AbortController(), released: false };
    this.#holders.set(key, holder);
    const grant = { key, lost: false };
    this.grants.push(grant);
    holder.controller.signal.addEventListener('abort', () => (grant.lost = true));
    return {
      lost: holder.controller.signal,
      release: async () => {
        if (holder.released) return;
        holder.released = true;
        if (this.#holders.get(key) === holder) this.#handOn(key);
      },
    };
  }

  /** Whether a holder owns the lock of `key` right now. */
  isLocked(key: string): boolean {
    return this.#holders.has(key);
  }

  /**
   * The lock of `key` lapses: its holder's `lost` aborts and the next waiter
   * (another process) gets the lock while the first holder may still be working.
   */
  lapse(key: string): void {
    const holder = this.#holders.get(key);
    if (holder === undefined) throw new Error(`no holder of ${key} to lapse`);
    holder.controller.abort(new StoreUnavailableError('lock lapsed (test)'));
    this.#handOn(key);
  }

  #check(): void {
    if (this.down) throw new StoreUnavailableError('store down (test)');
  }

  #handOn(key: string): void {
    this.#holders.delete(key);
    const next = this.#waiters.get(key)?.shift();
    next?.();
  }
}
