import { WakeRegistry, type PendingWake } from '@refreshkit/core/internal';
import { channelPattern, keyOfChannel } from './redis-keys.js';
import type { RedisClient } from './redis-token-store-options.js';

/**
 * `duplicate` of a standalone or Sentinel ioredis client, which takes
 * options to override. {@link RedisClient} declares it without them, since
 * a Cluster's `duplicate` takes startup nodes first.
 */
type DuplicateWithOverride = (override: { readonly autoResubscribe: boolean }) => RedisClient;

/**
 * Published on a record's channel when its lock is released: it wakes lock
 * waiters but is not a write. Write ids always hold a `.` and never a `:`,
 * so no write id equals it.
 */
export const LOCK_RELEASED = ':released';

/** One wait for an update on a channel. */
export type PendingUpdate = PendingWake;

/** What the listener reports to its store. */
export interface UpdateHandlers {
  /** `key`'s record was written (as `writeId`) or deleted, by any process. */
  readonly updated: (key: string, writeId: string) => void;
  /**
   * The subscription is (again) in place: messages sent before may have
   * been missed, so nothing kept from before can be trusted.
   */
  readonly subscribed: () => void;
}

/**
 * Hears every write and delete of a record under the store's prefix, and
 * every release of its lock, from any process, on one extra connection (a `duplicate()` of the client,
 * opened on first use) subscribed to one pattern. It keeps the local copies
 * coherent and wakes processes waiting for a refresh lock.
 *
 * Pub/sub delivers at most once: messages sent while the connection is down
 * are lost. So on every (re)subscription the store drops all its local
 * copies, and lock waiters always wait with a timeout and poll.
 */
export class UpdateListener {
  readonly #client: RedisClient;
  readonly #prefix: string;
  readonly #pattern: string;
  readonly #handlers: UpdateHandlers;
  #subscriber: RedisClient | undefined;
  #closed = false;
  #firstSubscription: Promise<void> | undefined;
  /** The first PSUBSCRIBE is queued before the connection is up, and goes out on it. */
  #firstPending = false;
  #readyEvents = 0;
  #onFirstSubscription: () => void = () => {};
  readonly #waiters = new WakeRegistry();

  constructor(client: RedisClient, prefix: string, handlers: UpdateHandlers) {
    this.#client = client;
    this.#prefix = prefix;
    this.#pattern = channelPattern(prefix);
    this.#handlers = handlers;
  }

  /**
   * Opens the subscription if it is not open yet. Resolves once it is first
   * in place (never, if Redis is not reachable).
   */
  start(): Promise<void> {
    if (this.#firstSubscription !== undefined) return this.#firstSubscription;
    this.#firstSubscription = new Promise((resolve) => (this.#onFirstSubscription = resolve));
    if (this.#closed) return this.#firstSubscription;
    // This listener subscribes again itself on every 'ready' (below), with
    // its failure handled. ioredis's own resubscription of a standalone or
    // Sentinel client leaves its PSUBSCRIBE's promise unhandled: if the
    // connection closes again before Redis answers, that rejection would
    // reach the process's unhandledRejection (and crash it, by default).
    // A Cluster handles its own resubscription's failures, and its
    // duplicate() takes startup nodes first, so it is left as it is.
    const subscriber = this.#client.isCluster
      ? this.#client.duplicate()
      : (this.#client.duplicate as DuplicateWithOverride).call(this.#client, { autoResubscribe: false });
    this.#subscriber = subscriber;
    subscriber.on('error', () => {
      // Reconnection is automatic; the resubscription drops local copies.
    });
    subscriber.on('pmessage', (pattern: string, channel: string, message: string) => {
      if (pattern !== this.#pattern) return;
      // A release changed no record: local copies stay.
      if (message !== LOCK_RELEASED) this.#handlers.updated(keyOfChannel(this.#prefix, channel), message);
      this.#waiters.wake(channel);
    });
    // A standalone or Sentinel client says 'ready' after each reconnection;
    // a Cluster after its own, and its subscriber moves when nodes come and go.
    subscriber.on('ready', () => {
      if (++this.#readyEvents === 1 && this.#firstPending) return;
      this.#subscribe();
    });
    for (const event of ['+node', '-node']) subscriber.on(event, () => this.#subscribe());
    this.#firstPending = true;
    this.#subscribe();
    return this.#firstSubscription;
  }

  /** Starts listening on `channel` before the caller's next attempt, so no update slips between them. */
  next(channel: string): PendingUpdate {
    void this.start();
    return this.#waiters.next(channel);
  }

  /** Closes the subscriber connection for good: later waits just poll. */
  async close(): Promise<void> {
    this.#closed = true;
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    await subscriber?.quit().catch(() => {});
  }

  #subscribe(): void {
    const subscriber = this.#subscriber;
    if (subscriber === undefined) return;
    subscriber.psubscribe(this.#pattern).then(
      () => {
        this.#firstPending = false;
        if (this.#subscriber !== subscriber) return;
        this.#handlers.subscribed();
        this.#onFirstSubscription();
      },
      () => {
        // Retried on the next 'ready'; until then nothing new is heard.
        this.#firstPending = false;
      },
    );
  }
}
