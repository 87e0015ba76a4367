import { backoffDelay } from './backoff.js';
import { StoreUnavailableError } from './errors.js';
import { settleWithin } from './hook-timeout.js';
import type { TokenSet } from './token-set.js';
import { unrefTimer } from './unref-timer.js';

/** Pauses between attempts at a failed save: from 1 s, doubling, up to 30 s. */
const SAVE_BACKOFF = { baseMs: 1_000, maxMs: 30_000 };

interface PendingSave {
  readonly tokens: TokenSet;
  attempt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Runs the cache's `save` hook and, when it fails, keeps retrying it with
 * jittered exponential backoff until it succeeds or newer tokens for the key
 * supersede it. A rotated refresh token is thereby never dropped just
 * because the database hiccuped once.
 *
 * Calls of the hook for one key run one at a time, in the order the tokens
 * were handed in, and an attempt whose tokens were superseded while it
 * waited its turn is skipped: the last call for a key is always the newest
 * tokens, so the hook cannot end up holding an older set than the store
 * (a slow retry of an old set no longer lands after a newer save). Each call
 * is waited for at most `timeoutMs`; one that overruns counts as a failure.
 *
 * Retry timers are unref'd: a pending retry never keeps a process alive.
 */
export class SaveRetrier {
  readonly #save: (key: string, tokens: TokenSet) => Promise<void> | void;
  readonly #onError: (key: string, error: unknown, attempt: number) => void;
  readonly #random: () => number;
  readonly #timeoutMs: number;
  readonly #pending = new Map<string, PendingSave>();
  /** Per key, the end of the chain of hook calls; removed when the chain runs dry. */
  readonly #tails = new Map<string, Promise<void>>();

  constructor(
    save: (key: string, tokens: TokenSet) => Promise<void> | void,
    onError: (key: string, error: unknown, attempt: number) => void,
    random: () => number,
    timeoutMs = 10_000,
  ) {
    this.#save = save;
    this.#onError = onError;
    this.#random = random;
    this.#timeoutMs = timeoutMs;
  }

  /** Number of keys whose latest save has not succeeded yet. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Saves `tokens` for `key`, superseding any save still pending for it.
   * Resolves once the first attempt settles (or is skipped because newer
   * tokens superseded it); never rejects.
   */
  save(key: string, tokens: TokenSet): Promise<void> {
    this.cancel(key);
    const entry: PendingSave = { tokens, attempt: 1, timer: undefined };
    this.#pending.set(key, entry);
    return this.#enqueue(key, entry);
  }

  /** Forgets any pending save or retry for `key` (the key was deleted or superseded). */
  cancel(key: string): void {
    const entry = this.#pending.get(key);
    if (entry?.timer !== undefined) clearTimeout(entry.timer);
    this.#pending.delete(key);
  }

  /** Resolves once no call of the hook for `key` is running or waiting its turn. */
  async settled(key: string): Promise<void> {
    for (let tail = this.#tails.get(key); tail !== undefined; tail = this.#tails.get(key)) await tail;
  }

  #enqueue(key: string, entry: PendingSave): Promise<void> {
    const previous = this.#tails.get(key);
    const run = previous === undefined ? this.#attempt(key, entry) : previous.then(() => this.#attempt(key, entry));
    this.#tails.set(key, run);
    void run.then(() => {
      if (this.#tails.get(key) === run) this.#tails.delete(key);
    });
    return run;
  }

  async #attempt(key: string, entry: PendingSave): Promise<void> {
    if (this.#pending.get(key) !== entry) return; // superseded while it waited its turn
    try {
      await settleWithin(
        () => this.#save(key, entry.tokens),
        this.#timeoutMs,
        () =>
          new StoreUnavailableError(`The \`save\` hook did not settle within ${this.#timeoutMs} ms for key \`${key}\``),
      );
      if (this.#pending.get(key) === entry) this.#pending.delete(key);
    } catch (error) {
      if (this.#pending.get(key) !== entry) return;
      this.#onError(key, error, entry.attempt);
      const delay = backoffDelay(entry.attempt, SAVE_BACKOFF, 'half', this.#random());
      entry.attempt += 1;
      entry.timer = setTimeout(() => {
        entry.timer = undefined;
        if (this.#pending.get(key) === entry) void this.#enqueue(key, entry);
      }, delay);
      unrefTimer(entry.timer);
    }
  }
}
