// undici's `request` and `fetch` as outbound client conformance entries,
// each through an Agent composed with the bearer interceptor; and `request`
// once more under an interceptor of undici's controller API, as undici's own
// interceptors (and undici 8's `request`) hand the bearer interceptor.
import { Readable } from 'node:stream';
import { Agent, fetch, request, type Dispatcher } from 'undici';
import { bearerInterceptor } from '@refreshkit/undici';
import type { ClientCall, ClientUnderTest, OutboundClient } from './client-conformance.js';

function headersOf(call: ClientCall): Record<string, string> {
  return {
    ...(call.key !== undefined && { 'x-refreshkit-key': call.key }),
    ...(call.authorization !== undefined && { authorization: call.authorization }),
  };
}

/** undici has no base URL option of its own: the caller resolves the URL. */
function urlOf(call: ClientCall): string {
  return call.base === undefined ? call.url : new URL(call.url, call.base).href;
}

type Send = (dispatcher: Dispatcher, call: ClientCall) => Promise<{ status: number; body: string }>;

function withAgent(
  options: Parameters<typeof bearerInterceptor>[0],
  send: Send,
  ...outer: Dispatcher.DispatcherComposeInterceptor[]
): OutboundClient {
  const agent = new Agent();
  const dispatcher = agent.compose(bearerInterceptor(options), ...outer);
  return { send: (call) => send(dispatcher, call), close: () => agent.close() };
}

/**
 * A handler that passes every event of undici's controller API on and has
 * no callback-API methods, as the handlers of undici's own interceptors.
 */
class ControllerOnlyHandler implements Dispatcher.DispatchHandler {
  readonly #inner: Dispatcher.DispatchHandler;
  constructor(inner: Dispatcher.DispatchHandler) {
    this.#inner = inner;
  }
  onRequestStart(...args: Parameters<NonNullable<Dispatcher.DispatchHandler['onRequestStart']>>): void {
    this.#inner.onRequestStart?.(...args);
  }
  onRequestUpgrade(...args: Parameters<NonNullable<Dispatcher.DispatchHandler['onRequestUpgrade']>>): void {
    this.#inner.onRequestUpgrade?.(...args);
  }
  onResponseStart(...args: Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseStart']>>): void {
    this.#inner.onResponseStart?.(...args);
  }
  onResponseData(...args: Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseData']>>): void {
    this.#inner.onResponseData?.(...args);
  }
  onResponseEnd(...args: Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseEnd']>>): void {
    this.#inner.onResponseEnd?.(...args);
  }
  onResponseError(...args: Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseError']>>): void {
    this.#inner.onResponseError?.(...args);
  }
}

/** An interceptor composed outside the bearer interceptor that hands it controller-API handlers only. */
export const controllerApiOnly: Dispatcher.DispatcherComposeInterceptor = (dispatch) =>
  function controllerOnly(opts, handler) {
    return dispatch(opts, new ControllerOnlyHandler(handler));
  };

const sendWithRequest: Send = async (dispatcher, call) => {
  const response = await request(urlOf(call), {
    dispatcher,
    method: call.method ?? 'GET',
    headers: headersOf(call),
    ...(call.body && { body: call.body.stream ? Readable.from([call.body.text]) : call.body.text }),
    ...(call.signal && { signal: call.signal }),
    ...(call.timeoutMs !== undefined && { headersTimeout: call.timeoutMs }),
  });
  return { status: response.statusCode, body: await response.body.text() };
};

const undiciRequest: ClientUnderTest = {
  name: 'undici request',
  create: (options) => withAgent(options, sendWithRequest),
  sendsStringBodiesAsStrings: true,
  unwrap: (error) => error,
};

const undiciRequestUnderControllerApi: ClientUnderTest = {
  name: 'undici request under a controller-API interceptor',
  create: (options) => withAgent(options, sendWithRequest, controllerApiOnly),
  sendsStringBodiesAsStrings: true,
  unwrap: (error) => error,
};

const undiciFetch: ClientUnderTest = {
  name: 'undici fetch',
  create: (options) =>
    withAgent(options, async (dispatcher, call) => {
      const body = call.body && (call.body.stream ? Readable.toWeb(Readable.from([call.body.text])) : call.body.text);
      const signals = [call.signal, call.timeoutMs === undefined ? undefined : AbortSignal.timeout(call.timeoutMs)];
      const present = signals.filter((signal) => signal !== undefined);
      const response = await fetch(urlOf(call), {
        dispatcher,
        method: call.method ?? 'GET',
        headers: headersOf(call),
        ...(body && { body: body as unknown as string, duplex: 'half' as const }),
        ...(present.length > 0 && { signal: AbortSignal.any(present) }),
      });
      return { status: response.status, body: await response.text() };
    }),
  // fetch hands the dispatcher every body as an async generator, read once.
  sendsStringBodiesAsStrings: false,
  // fetch reports a dispatcher error as `TypeError('fetch failed')` with the error as `cause`.
  unwrap: (error) => (error instanceof TypeError && error.cause !== undefined ? error.cause : error),
};

/** undici `request` (directly and under a controller-API interceptor) and `fetch`. */
export const UNDICI_CLIENTS: readonly ClientUnderTest[] = [undiciRequest, undiciRequestUnderControllerApi, undiciFetch];
