import { StoreUnavailableError } from './errors.js';
import { unrefTimer } from './unref-timer.js';

/** What a {@link LockWatchdog} needs to keep one lock alive. */
export interface LockWatchdogOptions {
  /** The cache key, for messages. */
  readonly key: string;
  /** The lock's lifetime in the store. */
  readonly ttlMs: number;
  /** Extends the lock if this holder still has it: resolves whether it did. */
  readonly renew: () => Promise<boolean>;
  /** When (performance.now()) the command that took the lock was sent. */
  readonly takenAt: number;
}

/**
 * Keeps a held lock alive: renews it every third of its lifetime, and aborts
 * `lost` when a renewal finds another holder, or when no renewal has
 * succeeded for five sixths of the lifetime (the store unreachable, or paused),
 * that is before the lock could lapse in the store and another process take it.
 * Times are counted from when each command was sent, so a slow answer only
 * makes the watchdog more cautious. Its timers are unref'd: a held lock
 * never keeps the process alive.
 */
export class LockWatchdog {
  readonly #options: LockWatchdogOptions;
  readonly #controller = new AbortController();
  readonly #renewTimer: ReturnType<typeof setInterval>;
  #lossTimer: ReturnType<typeof setTimeout> | undefined;
  #confirmedAt: number;
  #renewing = false;
  #stopped = false;

  constructor(options: LockWatchdogOptions) {
    this.#options = options;
    this.#confirmedAt = options.takenAt;
    this.#renewTimer = setInterval(() => this.#renew(), Math.max(1, Math.floor(options.ttlMs / 3)));
    unrefTimer(this.#renewTimer);
    this.#armLossTimer();
  }

  /** Aborts when this holder can no longer be sure it holds the lock. */
  get lost(): AbortSignal {
    return this.#controller.signal;
  }

  /** Stops renewing (the lock is being released). */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#renewTimer);
    clearTimeout(this.#lossTimer);
  }

  #renew(): void {
    if (this.#renewing || this.#stopped) return;
    this.#renewing = true;
    const sentAt = performance.now();
    this.#options.renew().then(
      (held) => {
        this.#renewing = false;
        if (this.#stopped) return;
        if (!held) {
          this.#lose('another holder has it (it lapsed, or was deleted)');
          return;
        }
        this.#confirmedAt = Math.max(this.#confirmedAt, sentAt);
        this.#armLossTimer();
      },
      () => {
        // Unreachable for now: the next tick tries again, the loss timer decides.
        this.#renewing = false;
      },
    );
  }

  #armLossTimer(): void {
    clearTimeout(this.#lossTimer);
    const lossAt = this.#confirmedAt + (this.#options.ttlMs * 5) / 6;
    this.#lossTimer = setTimeout(
      () => this.#lose(`it could not be renewed within ${this.#options.ttlMs} ms`),
      Math.max(0, lossAt - performance.now()),
    );
    unrefTimer(this.#lossTimer);
  }

  #lose(why: string): void {
    if (this.#stopped) return;
    this.stop();
    this.#controller.abort(new StoreUnavailableError(`Refresh lock for key \`${this.#options.key}\` was lost: ${why}`));
  }
}
