import { WakeRegistry, type PendingWake } from '@refreshkit/core/internal';
import type { PostgresPool, PostgresPoolClient } from './postgres-token-store-options.js';

/** One wait for a notification about a key. */
export type PendingNotification = PendingWake;

/** What the listener reports to the store. */
export interface ListenerHandlers {
  /** A notification arrived on the channel. */
  onNotification(payload: string): void;
  /**
   * `LISTEN` took effect on a (new) connection. Notifications sent while no
   * connection listened are lost, so whatever they would have invalidated
   * must be dropped now.
   */
  onListening(): void;
}

const MAX_BACKOFF_MS = 5_000;

/**
 * Holds one pool connection in `LISTEN` on the store's channel, reconnecting
 * with backoff when it drops (a restart, a network failure, an idle
 * timeout in a proxy). Taken from the pool, not opened beside it, so it
 * uses the pool's own connection settings (TLS, password callbacks).
 * Waiters register per key before their next attempt, so no notification
 * slips between an attempt and the wait; they always wait with a timeout
 * and poll, since notifications are lost while reconnecting.
 */
export class NotificationListener {
  readonly #pool: PostgresPool;
  readonly #channel: string;
  readonly #handlers: ListenerHandlers;
  readonly #waiters = new WakeRegistry();
  #client: PostgresPoolClient | undefined;
  #started = false;
  #closed = false;
  #backoffMs = 100;
  #retry: ReturnType<typeof setTimeout> | undefined;

  constructor(pool: PostgresPool, channel: string, handlers: ListenerHandlers) {
    this.#pool = pool;
    this.#channel = channel;
    this.#handlers = handlers;
  }

  /** Whether a connection is listening now. */
  get listening(): boolean {
    return this.#client !== undefined;
  }

  /** Starts listening, once; later calls do nothing. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    void this.#connect();
  }

  /** Wakes the waiters on `key`. */
  wake(key: string): void {
    this.#waiters.wake(key);
  }

  /** Wakes every waiter. */
  wakeAll(): void {
    this.#waiters.wakeAll();
  }

  /** Starts waiting for a notification about `key`. */
  next(key: string): PendingNotification {
    return this.#waiters.next(key);
  }

  /** Releases the listening connection for good. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = undefined;
    if (client !== undefined) this.#discard(client);
  }

  async #connect(): Promise<void> {
    let client: PostgresPoolClient | undefined;
    try {
      client = await this.#pool.connect();
      if (this.#closed) return this.#discard(client);
      const connected = client;
      const dropped = (): void => this.#dropped(connected);
      client.on('error', dropped);
      client.on('end', dropped);
      client.on('notification', (message) => {
        if (message.channel === this.#channel && message.payload !== undefined) {
          this.#handlers.onNotification(message.payload);
        }
      });
      await client.query(`LISTEN ${this.#channel}`);
      if (this.#closed) return this.#discard(client);
      this.#client = client;
      this.#backoffMs = 100;
      this.#handlers.onListening();
    } catch {
      if (client !== undefined) this.#discard(client);
      this.#scheduleReconnect();
    }
  }

  #dropped(client: PostgresPoolClient): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    this.#discard(client);
    // Whoever waits polls meanwhile; wake them so they poll now.
    this.wakeAll();
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed) return;
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => void this.#connect(), this.#backoffMs);
    this.#retry.unref?.();
    this.#backoffMs = Math.min(this.#backoffMs * 2, MAX_BACKOFF_MS);
  }

  /** Destroys a connection rather than returning it to the pool: it is, or was, in LISTEN. */
  #discard(client: PostgresPoolClient): void {
    client.removeAllListeners('notification');
    client.removeAllListeners('end');
    client.removeAllListeners('error');
    // A destroyed client may still report its socket's failure.
    client.on('error', () => {});
    try {
      client.release(true);
    } catch {
      // Already released.
    }
  }
}
