import type { Duplex } from 'node:stream';
import { abortError } from './abort-error.js';
import { BearerCall } from './bearer-call.js';
import { readRawHeader, type RawHeaders } from './response-headers.js';

/** The abort function of undici's callback API. */
type Abort = (reason?: Error) => void;

/**
 * A handler of undici's older callback API (`onConnect`, `onHeaders`,
 * `onData`, `onComplete`, `onError`), which undici 7 still drives `request`
 * and `fetch` with.
 */
export interface CallbackHandler {
  onConnect(abort: Abort, context?: object): void;
  onHeaders(statusCode: number, rawHeaders: RawHeaders, resume: () => void, statusMessage?: string): boolean | void;
  onData(chunk: Buffer): boolean | void;
  onComplete(rawTrailers: RawHeaders | null): void;
  onError(error: Error): void;
  onUpgrade?(statusCode: number, rawHeaders: RawHeaders | null, socket: Duplex): void;
  onResponseStarted?(): void;
}

/**
 * Whether `handler` speaks undici's callback API. A handler that speaks
 * both, as the wrapper undici 7's `compose` puts around `request`'s and
 * `fetch`'s is, is answered in the callback API: the one its caller speaks.
 */
export function speaksCallbacks(handler: object): handler is CallbackHandler {
  const { onConnect, onHeaders, onData, onComplete, onError } = handler as Partial<CallbackHandler>;
  return (
    typeof onConnect === 'function' &&
    typeof onHeaders === 'function' &&
    typeof onData === 'function' &&
    typeof onComplete === 'function' &&
    typeof onError === 'function'
  );
}

/**
 * A {@link BearerCall} for a caller's handler of undici's callback API,
 * speaking that API to the dispatcher below too. undici 7's `compose`
 * hands each interceptor the handler of `request` or `fetch` wrapped to
 * speak the controller API as well, and its dispatchers convert a
 * controller-API handler back; each conversion copies every header of
 * every response, into an object and then back into buffers. Speaking the
 * callback API on both sides skips both: the headers reach the caller as
 * the socket produced them.
 */
export class CallbackBearerCall extends BearerCall<CallbackHandler> {
  /** The abort of the request on the wire; undefined between requests. */
  #wireAbort: Abort | undefined;
  /** Why the caller aborted the call, once it has. */
  #abortReason: Error | undefined;

  /**
   * The abort the caller holds for the whole call: it goes to the request
   * on the wire, or, while none is (waiting for a token), ends the call at
   * once; the token is then dropped (the cache keeps it for other calls).
   */
  readonly #abort: Abort = (reason) => {
    if (this.#abortReason !== undefined) return;
    this.#abortReason = reason ?? abortError();
    if (this.#wireAbort !== undefined) this.#wireAbort(this.#abortReason);
    else this.fail(this.#abortReason);
  };

  protected startCaller(): void {
    this.handler.onConnect(this.#abort, {});
  }

  protected failCaller(error: Error): void {
    this.handler.onError(error);
  }

  onConnect(abort: Abort): void {
    this.#wireAbort = abort;
    if (this.#abortReason !== undefined) abort(this.#abortReason);
  }

  /** Passed on for every response, the swallowed ones too: `fetch` keeps the time of the last, the final one. */
  onResponseStarted(): void {
    this.handler.onResponseStarted?.();
  }

  onUpgrade(statusCode: number, rawHeaders: RawHeaders | null, socket: Duplex): void {
    this.handler.onUpgrade?.(statusCode, rawHeaders, socket);
  }

  onHeaders(statusCode: number, rawHeaders: RawHeaders, resume: () => void, statusMessage?: string): boolean {
    if (!this.responseStarts(statusCode, rawHeaders, readRawHeader)) return true;
    return this.handler.onHeaders(statusCode, rawHeaders, resume, statusMessage) !== false;
  }

  onData(chunk: Buffer): boolean {
    return this.forwarding ? this.handler.onData(chunk) !== false : true;
  }

  onComplete(rawTrailers: RawHeaders | null): void {
    // Until the next request starts, an abort ends the call itself.
    this.#wireAbort = undefined;
    if (this.responseEnds(this.#abortReason)) this.handler.onComplete(rawTrailers);
  }

  onError(error: Error): void {
    this.fail(error);
  }
}
