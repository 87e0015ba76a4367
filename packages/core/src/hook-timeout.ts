import { unrefTimer } from './unref-timer.js';

/**
 * Runs an application hook (`load`, `save`) and waits for it at most `ms`:
 * a hook that never settles must not hang its key, every caller queued
 * behind it, or `close()`. The hook itself cannot be cancelled; a late
 * answer is ignored. A hook that throws synchronously rejects instead.
 *
 * @param timeoutError builds the rejection when the hook overruns; it names
 * the hook and the key, never a token.
 */
export function settleWithin<T>(hook: () => T | Promise<T>, ms: number, timeoutError: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(timeoutError()), ms);
    unrefTimer(timer);
    new Promise<T>((run) => run(hook())).then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
