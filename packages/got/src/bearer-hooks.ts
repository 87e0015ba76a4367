import { KEY_HEADER, OutboundBearer, isReplayableBody, type OutboundBearerOptions } from '@refreshkit/core/adapter';
import type { AfterResponseHook, BeforeErrorHook, BeforeRedirectHook, BeforeRequestHook, ExtendOptions } from 'got';

/** got's options of one request, as its hooks see them. */
type RequestOptions = Parameters<BeforeRequestHook>[0];

/** Options of {@link bearerHooks}; `key` is a function of got's options of the request (e.g. their `context`). */
export type BearerHooksOptions = OutboundBearerOptions<RequestOptions>;

/**
 * What one call with a bearer carries across redirects and its retry. It
 * lives in the call's `context` under a symbol: got copies options on each
 * redirect and retry, and the copy keeps this object.
 */
interface BearerState {
  readonly key: string;
  readonly origin: string;
  attempt: 1 | 2;
  /** Set after a 401: the retry must get a fresh token first. */
  needsToken: boolean;
  /** Whether the latest hop carried the bearer. */
  bearerSent: boolean;
}

const STATE = Symbol('refreshkit.bearer');

/**
 * The token each call's state last sent. Kept beside the state, not in it:
 * got's errors carry the options, and so the context, which applications
 * log.
 */
const tokens = new WeakMap<BearerState, string>();

function stateOf(options: { readonly context: object }): BearerState | undefined {
  return (options.context as Record<symbol, BearerState | undefined>)[STATE];
}

/**
 * got hooks, for `got.extend(bearerHooks({ cache }))`, that give each call
 * the fresh bearer of its key, with the guarantees of `cache.fetch`:
 *
 * - the key is the call's `x-refreshkit-key` header (consumed, never sent),
 *   else the `key` option; a call without a key passes untouched;
 * - the bearer goes only to the cache's `allowedOrigins`, checked on the URL
 *   got builds (`prefixUrl`, `url`, `searchParams`): any other origin fails
 *   with a got `RequestError` whose `cause` is `OriginNotAllowedError`
 *   (`code` `ERR_ORIGIN_NOT_ALLOWED`) before anything is sent; a caller's own
 *   `Authorization` header is replaced;
 * - on each redirect got follows, the bearer stays only while the hop is on
 *   the checked origin;
 * - a 401 to the bearer invalidates that token (only if still current, so N
 *   concurrent 401s cost one refresh) and the call is sent once more, unless
 *   its body is a stream;
 * - token failures fail the call with the core's typed error as `cause`;
 *   timeouts and aborts pass through and leave the cache as it was.
 *
 * @example
 * const api = got.extend({ prefixUrl: 'https://api.example.com' }, bearerHooks({ cache }));
 * await api.get('me', { headers: { 'x-refreshkit-key': userId } }).json();
 */
export function bearerHooks(options: BearerHooksOptions): ExtendOptions {
  const bearer = new OutboundBearer<RequestOptions>(options);

  const beforeRequest: BeforeRequestHook = async (request) => {
    const state = stateOf(request);
    if (state !== undefined) return applyBearer(request, state, await freshToken(state, request));
    const named = request.headers[KEY_HEADER];
    delete request.headers[KEY_HEADER];
    const key = await bearer.keyOf(request, typeof named === 'string' ? named : undefined);
    if (key === undefined || key === '') return;
    const origin = bearer.allowedOriginOf(request.url as URL | string);
    const token = await bearer.token(key, request.signal);
    const created: BearerState = { key, origin, attempt: 1, needsToken: false, bearerSent: true };
    tokens.set(created, token);
    (request.context as Record<symbol, BearerState>)[STATE] = created;
    applyBearer(request, created, token);
  };

  async function freshToken(state: BearerState, request: RequestOptions): Promise<string> {
    if (!state.needsToken) return tokens.get(state)!;
    const token = await bearer.token(state.key, request.signal);
    tokens.set(state, token);
    state.needsToken = false;
    state.bearerSent = true;
    return token;
  }

  const beforeRedirect: BeforeRedirectHook = (request) => {
    const state = stateOf(request);
    if (state !== undefined) applyBearer(request, state, tokens.get(state)!);
  };

  const afterResponse: AfterResponseHook = async (response, retryWithMergedOptions) => {
    const { options: request } = response.request;
    const state = stateOf(request);
    if (
      state === undefined ||
      !bearer.shouldRetry(response.statusCode, state.attempt, state.bearerSent, isReplayableBody(request.body))
    ) {
      return response;
    }
    await bearer.invalidate(state.key, tokens.get(state)!);
    state.attempt = 2;
    state.needsToken = true;
    return retryWithMergedOptions({});
  };

  // The error the caller gets (and logs) carries the options it was sent
  // with: the bearer there is masked.
  const beforeError: BeforeErrorHook = (error) => {
    const headers = error.options?.headers;
    if (headers !== undefined && stateOf(error.options) !== undefined && headers.authorization !== undefined) {
      headers.authorization = 'Bearer [REDACTED]';
    }
    return error;
  };

  return {
    hooks: {
      beforeRequest: [beforeRequest],
      beforeRedirect: [beforeRedirect],
      afterResponse: [afterResponse],
      beforeError: [beforeError],
    },
  };
}

/**
 * Sets the bearer on a request to the checked origin (once the bearer has
 * left it, it does not come back), and removes any `Authorization` elsewhere.
 */
function applyBearer(request: RequestOptions, state: BearerState, token: string): void {
  const url = request.url;
  const origin = url === undefined ? undefined : new URL(url).origin;
  state.bearerSent = state.bearerSent && origin === state.origin;
  for (const name of Object.keys(request.headers))
    if (name.toLowerCase() === 'authorization') delete request.headers[name];
  if (state.bearerSent) request.headers.authorization = `Bearer ${token}`;
}
