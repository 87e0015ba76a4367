import type { Dispatcher } from 'undici';
import { abortError } from './abort-error.js';

/**
 * The controller the caller's handler sees for the whole call, across the
 * token wait, redirects and a retry: pause, resume and abort go to the
 * request on the wire at the time, and an abort while none is (waiting for
 * a token) ends the call through `onAbortIdle`.
 */
export class OuterController implements Dispatcher.DispatchController {
  #inner: Dispatcher.DispatchController | undefined;
  #aborted = false;
  #paused = false;
  #reason: Error | null = null;
  readonly #onAbortIdle: (reason: Error) => void;

  constructor(onAbortIdle: (reason: Error) => void) {
    this.#onAbortIdle = onAbortIdle;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Why the call was aborted (never null once it has been). */
  get reason(): Error | null {
    return this.#reason;
  }

  abort(reason?: Error): void {
    if (this.#aborted) return;
    this.#aborted = true;
    const why = reason ?? abortError();
    this.#reason = why;
    if (this.#inner) this.#inner.abort(why);
    else this.#onAbortIdle(why);
  }

  pause(): void {
    this.#paused = true;
    this.#inner?.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#inner?.resume();
  }

  /** Routes control to the request now on the wire (`undefined` between requests). */
  attach(inner: Dispatcher.DispatchController | undefined): void {
    this.#inner = inner;
    if (inner === undefined) return;
    if (this.#aborted) inner.abort(this.#reason!);
    else if (this.#paused) inner.pause();
  }
}
