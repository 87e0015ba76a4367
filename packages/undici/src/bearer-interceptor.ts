import { KEY_HEADER, OutboundBearer, type OutboundBearerOptions } from '@refreshkit/core/adapter';
import type { Dispatcher } from 'undici';
import { CallbackBearerCall, speaksCallbacks } from './callback-call.js';
import { ControllerBearerCall } from './controller-call.js';
import { splitHeaders } from './dispatch-headers.js';

/**
 * Options of {@link bearerInterceptor}. `key` is a function of undici's
 * dispatch options when calls pick their key otherwise than by the
 * `x-refreshkit-key` header.
 */
export type BearerInterceptorOptions = OutboundBearerOptions<Dispatcher.DispatchOptions>;

/**
 * An undici interceptor (for `Dispatcher.compose`) that sends each call with
 * the fresh bearer of its key, with the guarantees of `cache.fetch`:
 *
 * - the key is the call's `x-refreshkit-key` header (consumed, never sent),
 *   else the `key` option; a call without a key passes untouched;
 * - the bearer goes only to the cache's `allowedOrigins`: a call with a key
 *   to any other origin fails with `OriginNotAllowedError` before anything
 *   is sent; a caller's own `Authorization` header is replaced;
 * - redirects are followed here, up to 20: a hop to another origin carries
 *   no bearer, cookie or `Authorization`, and `fetch` or `request` never see
 *   the redirect itself;
 * - a 401 to the bearer invalidates that token (only if still current, so N
 *   concurrent 401s cost one refresh) and the call is sent once more with a
 *   fresh token, unless its body is a stream, which cannot be sent twice;
 * - a key whose endpoint has a DPoP key sends its DPoP-bound token as
 *   `Authorization: DPoP` with a new proof for every request sent (each
 *   redirect hop on the checked origin, each retry), and a DPoP nonce
 *   challenge earns one more try with the server's nonce;
 * - token failures fail the call with the core's typed errors
 *   (`ReauthenticationRequiredError`, `TokenEndpointUnavailableError`);
 *   timeouts and aborts pass through and leave the cache as it was.
 *
 * Compose it onto an `Agent` (redirects may change origin). Libraries should
 * pass the dispatcher per call rather than set it globally.
 *
 * @example
 * const dispatcher = new Agent().compose(bearerInterceptor({ cache }));
 * await request(`${api}/me`, { dispatcher, headers: { 'x-refreshkit-key': userId } });
 * await fetch(`${api}/me`, { dispatcher, headers: { 'x-refreshkit-key': userId } });
 */
export function bearerInterceptor(options: BearerInterceptorOptions): Dispatcher.DispatcherComposeInterceptor {
  const bearer = new OutboundBearer<Dispatcher.DispatchOptions>(options);
  return (dispatch) =>
    function refreshkitBearer(opts, handler) {
      const headers = splitHeaders(opts.headers, KEY_HEADER);
      let key: ReturnType<typeof bearer.keyOf>;
      try {
        key = bearer.keyOf(opts, headers.key);
      } catch (error) {
        key = Promise.reject(error as Error);
      }
      // A call with no key at all costs a header scan and nothing else.
      if (key === undefined && headers.key === undefined) return dispatch(opts, handler);
      // undici 7's `request` and `fetch` hand over callback-API handlers (wrapped by `compose`):
      // answering them in their own API saves two copies of every response's headers.
      const call = speaksCallbacks(handler)
        ? new CallbackBearerCall(dispatch, opts, headers, handler, bearer)
        : new ControllerBearerCall(dispatch, opts, headers, handler, bearer);
      call.start(key);
      return true;
    };
}
