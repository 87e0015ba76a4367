import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { BearerCall } from './bearer-call.js';
import { OuterController } from './outer-controller.js';
import { readParsedHeader } from './response-headers.js';

/**
 * A {@link BearerCall} for a caller's handler of undici's controller API
 * (`onRequestStart`, `onResponseStart`, ...), the only API of undici 8 and
 * of undici's own interceptors. It speaks the same API to the dispatcher
 * below.
 */
export class ControllerBearerCall extends BearerCall<Dispatcher.DispatchHandler> implements Dispatcher.DispatchHandler {
  /**
   * The controller the caller sees for the whole call. An abort while no
   * request is on the wire ends the call at once; a token still on its way
   * is then dropped (the cache keeps it for other calls).
   */
  readonly #outer = new OuterController((reason) => this.fail(reason));

  protected startCaller(): void {
    this.handler.onRequestStart?.(this.#outer, {});
  }

  protected failCaller(error: Error): void {
    this.handler.onResponseError?.(this.#outer, error);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#outer.attach(controller);
  }

  onRequestUpgrade(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    socket: Parameters<NonNullable<Dispatcher.DispatchHandler['onRequestUpgrade']>>[3],
  ): void {
    this.handler.onRequestUpgrade?.(this.#outer, statusCode, headers, socket);
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    if (this.responseStarts(statusCode, headers, readParsedHeader))
      this.handler.onResponseStart?.(this.#outer, statusCode, headers, statusMessage);
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.forwarding) this.handler.onResponseData?.(this.#outer, chunk);
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    // After a swallowed response, until the next request starts, an abort ends the call itself.
    if (!this.forwarding) this.#outer.attach(undefined);
    if (this.responseEnds(this.#outer.reason)) this.handler.onResponseEnd?.(this.#outer, trailers);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.fail(error);
  }
}
