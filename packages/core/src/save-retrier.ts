import type { TokenSet } from './token-set.js';

/** Longest pause between two attempts at a failed save. */
const MAX_SAVE_DELAY_MS = 30_000;

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
 * Retry timers are unref'd: a pending retry never keeps a process alive.
 */
export class SaveRetrier {
  readonly #save: (key: string, tokens: TokenSet) => Promise<void> | void;
  readonly #onError: (key: string, error: unknown, attempt: number) => void;
  readonly #random: () => number;
  readonly #pending = new Map<string, PendingSave>();

  constructor(
    save: (key: string, tokens: TokenSet) => Promise<void> | void,
    onError: (key: string, error: unknown, attempt: number) => void,
    random: () => number,
  ) {
    this.#save = save;
    this.#onError = onError;
    this.#random = random;
  }

  /** Number of keys whose latest save has not succeeded yet. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Saves `tokens` for `key`, superseding any retry still pending for it.
   * Resolves once the first attempt settles; never rejects.
   */
  async save(key: string, tokens: TokenSet): Promise<void> {
    this.cancel(key);
    const entry: PendingSave = { tokens, attempt: 1, timer: undefined };
    this.#pending.set(key, entry);
    await this.#attempt(key, entry);
  }

  /** Forgets any pending retry for `key` (the key was deleted or superseded). */
  cancel(key: string): void {
    const entry = this.#pending.get(key);
    if (entry?.timer !== undefined) clearTimeout(entry.timer);
    this.#pending.delete(key);
  }

  async #attempt(key: string, entry: PendingSave): Promise<void> {
    try {
      await this.#save(key, entry.tokens);
      if (this.#pending.get(key) === entry) this.#pending.delete(key);
    } catch (error) {
      if (this.#pending.get(key) !== entry) return;
      this.#onError(key, error, entry.attempt);
      const base = Math.min(MAX_SAVE_DELAY_MS, 1_000 * 2 ** (entry.attempt - 1));
      entry.attempt += 1;
      entry.timer = setTimeout(
        () => {
          entry.timer = undefined;
          if (this.#pending.get(key) === entry) void this.#attempt(key, entry);
        },
        base * (0.5 + this.#random() / 2),
      );
      unrefTimer(entry.timer);
    }
  }
}

/** Lets the runtime exit while `timer` is pending, where the runtime supports it. */
export function unrefTimer(timer: unknown): void {
  (timer as { unref?: () => void } | undefined)?.unref?.();
}
