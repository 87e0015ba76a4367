/**
 * A minimal typed event emitter. Core imports no `node:` module, so it cannot
 * use `node:events`; this keeps the same `on`/`off`/`once` shape.
 */
export class TypedEvents<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<(payload: never) => void>>();

  /** Adds `listener` for `name`. */
  on<Name extends keyof Events>(name: Name, listener: (payload: Events[Name]) => void): this {
    let set = this.#listeners.get(name);
    if (set === undefined) this.#listeners.set(name, (set = new Set()));
    set.add(listener as (payload: never) => void);
    return this;
  }

  /** Removes `listener` from `name`. */
  off<Name extends keyof Events>(name: Name, listener: (payload: Events[Name]) => void): this {
    this.#listeners.get(name)?.delete(listener as (payload: never) => void);
    return this;
  }

  /** Adds `listener` for the next `name` event only. */
  once<Name extends keyof Events>(name: Name, listener: (payload: Events[Name]) => void): this {
    const wrapper = (payload: Events[Name]): void => {
      this.off(name, wrapper);
      listener(payload);
    };
    return this.on(name, wrapper);
  }

  /** Number of listeners for `name`. */
  listenerCount(name: keyof Events): number {
    return this.#listeners.get(name)?.size ?? 0;
  }

  /**
   * Calls every listener of `name`. A throwing listener must not break the
   * refresh that emitted the event, so its error is rethrown on a fresh
   * microtask, where it surfaces like any uncaught listener bug.
   */
  protected emit<Name extends keyof Events>(name: Name, payload: Events[Name]): void {
    const set = this.#listeners.get(name);
    if (set === undefined || set.size === 0) return;
    for (const listener of [...set]) {
      try {
        (listener as (payload: Events[Name]) => void)(payload);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

/**
 * How `work` ends, as a promise that never rejects: an event payload can hand
 * it to listeners without risking an unhandled rejection when none looks.
 */
export function settlementOf(
  work: PromiseLike<unknown>,
): Promise<{ readonly ok: true } | { readonly ok: false; readonly error: unknown }> {
  return Promise.resolve(work).then(
    () => ({ ok: true }) as const,
    (error: unknown) => ({ ok: false, error }) as const,
  );
}
