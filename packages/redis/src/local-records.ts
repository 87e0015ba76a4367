import { LRUCache } from 'lru-cache';
import type { TokenRecord } from '@refreshkit/core';

/** What a Redis command found or wrote: a record and the id of the write that stored it. */
export interface SeenRecord {
  readonly record: TokenRecord;
  /** The `w` field of the Redis record: matches the update message of that write. */
  readonly writeId: string | null;
}

/** A record kept in process memory. */
export interface LocalEntry extends SeenRecord {
  /** From this time (ms epoch) on, the next hit checks the record against Redis in the background. */
  checkAt: number;
}

/** Bookkeeping for a key with reads or writes in flight; dropped when the last one ends. */
interface Watch {
  /** Bumped by every invalidation of the key. */
  seq: number;
  users: number;
  /** Ids of this process's own writes in flight: their outcome, not their message, decides. */
  writes?: Set<string>;
}

/** A read or write of one key in flight: whether its answer may be kept locally. */
export interface LocalTicket {
  readonly watch: Watch;
  readonly seq: number;
  readonly epoch: number;
  readonly writeId: string | undefined;
  /** When the command started (ms epoch): what it sees is known current from then. */
  readonly startedAt: number;
}

/**
 * The store's local (L1) copy of records, kept coherent by update messages.
 *
 * A Redis answer is kept only if nothing invalidated its key while the
 * command was in flight: otherwise an answer read before another process's
 * write could land after that write's message and be served as current.
 * Bookkeeping exists only for keys with a command in flight, so nothing
 * grows with the number of keys beyond the LRU's `max`.
 *
 * Each entry is also due for a check against Redis `maxAgeMs` after the
 * command that stored it started, which bounds how stale a copy can get
 * when update messages are lost without the store noticing.
 */
export class LocalRecords {
  readonly #entries: LRUCache<string, LocalEntry>;
  readonly #maxAgeMs: number;
  readonly #watches = new Map<string, Watch>();
  /** Bumped when every entry is dropped (update messages may have been missed). */
  #epoch = 0;

  constructor(max: number, maxAgeMs: number) {
    this.#entries = new LRUCache({ max });
    this.#maxAgeMs = maxAgeMs;
  }

  /** The hit path: the local entry of `key`, if any. */
  get(key: string): LocalEntry | undefined {
    return this.#entries.get(key);
  }

  /**
   * Starts a Redis command on `key` whose answer may be kept (a write, with
   * its id); always {@link end} it.
   */
  begin(key: string, writeId?: string): LocalTicket {
    let watch = this.#watches.get(key);
    if (watch === undefined) this.#watches.set(key, (watch = { seq: 0, users: 0 }));
    watch.users++;
    if (writeId !== undefined) (watch.writes ??= new Set()).add(writeId);
    return { watch, seq: watch.seq, epoch: this.#epoch, writeId, startedAt: Date.now() };
  }

  /**
   * Ends a command on `key`. `seen`: keep it, unless `key` was invalidated
   * meanwhile (then drop the key); `null`: drop the key; `undefined`:
   * leave the local copy as it is (the command's outcome is unknown).
   */
  end(key: string, ticket: LocalTicket, seen: SeenRecord | null | undefined): void {
    const { watch } = ticket;
    if (ticket.writeId !== undefined) watch.writes?.delete(ticket.writeId);
    if (seen !== undefined) {
      if (seen !== null && ticket.seq === watch.seq && ticket.epoch === this.#epoch) {
        // The same write seen again (a check, a lock's re-read): keep the
        // record object the cache made, which serves hits without allocating.
        const current = this.#entries.peek(key);
        const same = current !== undefined && seen.writeId !== null && current.writeId === seen.writeId;
        this.#entries.set(key, {
          record: same ? current.record : seen.record,
          writeId: seen.writeId,
          checkAt: ticket.startedAt + this.#maxAgeMs,
        });
      } else {
        this.#entries.delete(key);
      }
    }
    if (--watch.users === 0 && this.#watches.get(key) === watch) this.#watches.delete(key);
  }

  /**
   * `key` was written or deleted (by `writeId`; undefined: by this process,
   * about to be). The local copy goes unless it is that very write; answers
   * still in flight are not kept.
   */
  invalidate(key: string, writeId?: string): void {
    const watch = this.#watches.get(key);
    if (watch !== undefined) {
      if (writeId !== undefined && watch.writes?.has(writeId)) return;
      watch.seq++;
    }
    if (writeId === undefined || this.#entries.peek(key)?.writeId !== writeId) this.#entries.delete(key);
  }

  /** A write of `key` by this process is starting: answers in flight are not kept, the local copy stays. */
  touch(key: string): void {
    const watch = this.#watches.get(key);
    if (watch !== undefined) watch.seq++;
  }

  /** Drops every local copy (update messages may have been missed). */
  clear(): void {
    this.#epoch++;
    this.#entries.clear();
  }
}
