/** One wait for a wake-up under a name (a store's update for a key). */
export interface PendingWake {
  /** Resolves on the next wake-up (or at once if one came since `next`), after `ms`, or rejects when `signal` aborts. */
  wait(ms: number, signal?: AbortSignal): Promise<void>;
  /** Stops waiting (always call it, in `finally`). */
  cancel(): void;
}

/**
 * Waiters for wake-ups by name, for shared stores whose lock waiters are
 * woken by the holder's write (Redis pub/sub, PostgreSQL NOTIFY) and poll
 * as a fallback. A waiter registers before its next attempt, so no wake-up
 * slips between the attempt and the wait.
 */
export class WakeRegistry {
  readonly #waiters = new Map<string, Set<() => void>>();

  /** Starts waiting for a wake-up under `name`. */
  next(name: string): PendingWake {
    let wake: () => void = () => {};
    let woken = false;
    const listener = (): void => {
      woken = true;
      wake();
    };
    let set = this.#waiters.get(name);
    if (set === undefined) this.#waiters.set(name, (set = new Set()));
    set.add(listener);
    return {
      wait: (ms, signal) =>
        new Promise<void>((resolve, reject) => {
          if (signal?.aborted) return reject(signal.reason);
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
      cancel: () => {
        const waiters = this.#waiters.get(name);
        if (waiters === undefined) return;
        waiters.delete(listener);
        if (waiters.size === 0) this.#waiters.delete(name);
      },
    };
  }

  /** Wakes the waiters under `name`. */
  wake(name: string): void {
    const waiters = this.#waiters.get(name);
    if (waiters !== undefined) for (const listener of [...waiters]) listener();
  }

  /** Wakes every waiter (after a reconnection, when wake-ups may have been missed). */
  wakeAll(): void {
    for (const name of [...this.#waiters.keys()]) this.wake(name);
  }
}
