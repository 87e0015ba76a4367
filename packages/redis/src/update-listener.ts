import type { RedisClient } from './redis-token-store-options.js';

/** One wait for an update on a channel. */
export interface PendingUpdate {
  /** Resolves on the next message, after `ms`, or rejects when `signal` aborts. */
  wait(ms: number, signal?: AbortSignal): Promise<void>;
  /** Stops listening (always call it, in `finally`). */
  cancel(): void;
}

/**
 * Wakes processes waiting for a refresh lock when the holder publishes the
 * new record. Uses one extra connection (a `duplicate()` of the client),
 * opened on first use, and subscribes to a key's channel only while someone
 * waits on it. Messages can be missed while a subscription is being set up,
 * so callers always wait with a timeout and poll.
 */
export class UpdateListener {
  readonly #client: RedisClient;
  #subscriber: RedisClient | undefined;
  #closed = false;
  readonly #waiters = new Map<string, Set<() => void>>();

  constructor(client: RedisClient) {
    this.#client = client;
  }

  /** Starts listening on `channel` before the caller's next attempt, so no update slips between them. */
  next(channel: string): PendingUpdate {
    let wake: () => void = () => {};
    let woken = false;
    const listener = (): void => {
      woken = true;
      wake();
    };
    this.#add(channel, listener);
    return {
      wait: (ms, signal) =>
        new Promise<void>((resolve, reject) => {
          if (woken) return resolve();
          const done = (): void => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
            resolve();
          };
          const onAbort = (): void => {
            clearTimeout(timer);
            reject(signal?.reason);
          };
          const timer = setTimeout(done, ms);
          wake = done;
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
      cancel: () => this.#remove(channel, listener),
    };
  }

  /** Closes the subscriber connection for good: later waits just poll. */
  async close(): Promise<void> {
    this.#closed = true;
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    await subscriber?.quit().catch(() => {});
  }

  #add(channel: string, listener: () => void): void {
    let set = this.#waiters.get(channel);
    if (set === undefined) {
      this.#waiters.set(channel, (set = new Set()));
      // A failed subscription only costs latency: the waiter polls anyway.
      this.#connection()
        ?.subscribe(channel)
        .catch(() => {});
    }
    set.add(listener);
  }

  #remove(channel: string, listener: () => void): void {
    const set = this.#waiters.get(channel);
    if (set === undefined) return;
    set.delete(listener);
    if (set.size === 0) {
      this.#waiters.delete(channel);
      this.#subscriber?.unsubscribe(channel).catch(() => {});
    }
  }

  #connection(): RedisClient | undefined {
    if (this.#closed) return undefined;
    if (this.#subscriber === undefined) {
      const subscriber = this.#client.duplicate();
      subscriber.on('error', () => {
        // Reconnection is automatic; waiters fall back to polling meanwhile.
      });
      subscriber.on('message', (channel: string) => {
        for (const listener of [...(this.#waiters.get(channel) ?? [])]) listener();
      });
      this.#subscriber = subscriber;
    }
    return this.#subscriber;
  }
}
