import {
  KEY_HEADER,
  MAX_REDIRECTS,
  OutboundBearer,
  RetryBudget,
  isFollowedRedirect,
  isPromiseLike,
  isReplayableBody,
  methodAfterRedirect,
  type CallCredentials,
  type OutboundBearerOptions,
} from '@refreshkit/core/adapter';
import type { AxiosError, AxiosInstance, AxiosRequestConfig, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import { CallState } from './call-state.js';
import { fullPathOf } from './full-path.js';

declare module 'axios' {
  interface AxiosRequestConfig {
    /**
     * Set by `@refreshkit/axios` on the requests it sends itself for a call
     * (its retry after a 401, and the redirects of a DPoP call), so they
     * continue that call. Not for callers.
     */
    refreshkitCall?: object;
  }
}

/** Options of {@link bearerInterceptors}; `key` is a function of the axios request config. */
export type BearerInterceptorsOptions = OutboundBearerOptions<InternalAxiosRequestConfig>;

type BeforeRedirect = NonNullable<AxiosRequestConfig['beforeRedirect']>;

/**
 * Installs request and response interceptors on an axios instance so each
 * call carries the fresh bearer of its key, with the guarantees of
 * `cache.fetch`:
 *
 * - the key is the call's `x-refreshkit-key` header (consumed, never sent),
 *   else the `key` option; a call without a key passes untouched;
 * - the bearer goes only to the cache's `allowedOrigins`, checked on the URL
 *   axios builds (`baseURL`, `url`, `params`): any other origin rejects with
 *   `OriginNotAllowedError` before anything is sent; a caller's own
 *   `Authorization` header is replaced;
 * - on each redirect axios follows, the bearer stays only while the hop is
 *   on the checked origin;
 * - a 401 to the bearer invalidates that token (only if still current, so N
 *   concurrent 401s cost one refresh) and the call is sent once more, unless
 *   its body is a stream;
 * - a key whose endpoint has a DPoP key sends its DPoP-bound token as
 *   `Authorization: DPoP` with a new proof for every request (redirects of
 *   such a call are followed here, each hop proved, none carrying
 *   credentials off the checked origin), and a DPoP nonce challenge earns
 *   one more try with the server's nonce;
 * - token failures reject with the core's typed errors; timeouts and aborts
 *   pass through and leave the cache as it was.
 *
 * Redirects of bearer calls are checked through axios's `beforeRedirect`,
 * which its Node `http` adapter (the default on Node) runs.
 *
 * @returns a function that removes the interceptors again.
 *
 * @example
 * const api = axios.create({ baseURL: 'https://api.example.com' });
 * bearerInterceptors(api, { cache });
 * await api.get('/me', { headers: { 'x-refreshkit-key': userId } });
 */
export function bearerInterceptors(instance: AxiosInstance, options: BearerInterceptorsOptions): () => void {
  const bearer = new OutboundBearer<InternalAxiosRequestConfig>(options);

  function withCredentials(
    config: InternalAxiosRequestConfig,
  ): InternalAxiosRequestConfig | Promise<InternalAxiosRequestConfig> {
    const continued = config.refreshkitCall;
    if (continued instanceof CallState) return continueCall(config, continued);
    const named = config.headers.get(KEY_HEADER);
    if (named !== undefined) config.headers.delete(KEY_HEADER);
    const key = bearer.keyOf(config, typeof named === 'string' ? named : undefined);
    // A key known at once (the header, a fixed key) costs no promise hop.
    return typeof key === 'object' ? key.then((resolved) => startCall(config, resolved)) : startCall(config, key);
  }

  type Config = InternalAxiosRequestConfig | Promise<InternalAxiosRequestConfig>;

  function startCall(config: InternalAxiosRequestConfig, key: string | undefined): Config {
    if (key === undefined || key === '') return config;
    const origin = bearer.allowedOriginOf(fullPathOf(config));
    const credentials = bearer.credentialsNow(key, signalOf(config));
    // A token at hand is set without a promise: axios's chain then has none to wait for.
    return isPromiseLike(credentials)
      ? Promise.resolve(credentials).then((resolved) => setUpCall(config, key, origin, resolved))
      : setUpCall(config, key, origin, credentials);
  }

  /** Sets up the call of `config` to `origin` with `credentials` of `key`, and authorizes its first request. */
  function setUpCall(
    config: InternalAxiosRequestConfig,
    key: string,
    origin: string,
    credentials: CallCredentials,
  ): Config {
    const redirectLimit =
      credentials.dpop && config.maxRedirects !== 0 ? (config.maxRedirects ?? MAX_REDIRECTS) : undefined;
    const state = new CallState(key, origin, config, credentials, redirectLimit, config.beforeRedirect);
    if (redirectLimit === undefined) config.beforeRedirect = guardRedirect(state);
    else config.maxRedirects = 0;
    state.attachTo(config);
    const { fixedHeaders } = credentials;
    if (fixedHeaders === undefined) return authorize(config, credentials).then(() => config);
    config.headers.set(fixedHeaders);
    return config;
  }

  /** A request this adapter sends for a call: a retry, or a redirect it follows. */
  async function continueCall(config: InternalAxiosRequestConfig, state: CallState) {
    state.attachTo(config);
    if (!state.bearerSent) return config;
    if (state.needsToken) {
      state.credentials = await bearer.credentials(state.key, signalOf(config));
      state.needsToken = false;
    }
    await authorize(config, state.credentials);
    return config;
  }

  /**
   * What follows a response to a call: the next hop of a redirect this
   * adapter follows, a retry after a 401, or `undefined` (the response is
   * the caller's).
   */
  function continuation(response: AxiosResponse | undefined): Promise<AxiosResponse> | undefined {
    const state = CallState.of(response?.config);
    if (state === undefined || !state.bearerSent) return undefined;
    const { credentials } = state;
    const { config, status, headers } = response!;
    if (credentials.dpop) credentials.learnNonce(state.origin, headerOf(headers['dpop-nonce']));
    if (state.redirectLimit !== undefined && isFollowedRedirect(status)) return followRedirect(response!, state);
    if (status !== 401 || !isReplayableBody(config.data)) return undefined;
    const reason = (state.retries ??= new RetryBudget()).take(
      status,
      headerOf(headers['www-authenticate']),
      credentials.dpop,
    );
    if (reason === undefined) return undefined;
    return (async (): Promise<AxiosResponse> => {
      if (reason === 'refresh') {
        await bearer.invalidate(state.key, credentials.accessToken);
        state.needsToken = true;
      }
      // The whole call again, from its first URL.
      state.bearerSent = true;
      state.redirectsLeft = state.redirectLimit ?? 0;
      return instance.request({ ...state.first, refreshkitCall: state });
    })();
  }

  /**
   * Follows a redirect of a DPoP call by hand: the next hop gets a new proof
   * while it stays on the checked origin, and no credential anywhere else.
   */
  function followRedirect(response: AxiosResponse, state: CallState): Promise<AxiosResponse> | undefined {
    const { config, status, headers } = response;
    const location = headerOf(headers.location);
    const keepsMethod = status === 307 || status === 308;
    if (location === undefined || (keepsMethod && !isReplayableBody(config.data))) return undefined;
    if (state.redirectsLeft === 0) return undefined;
    state.redirectsLeft -= 1;
    const next = new URL(location, instance.getUri(config));
    const { method, dropsBody } = methodAfterRedirect(status, config.method ?? 'GET');
    const nextHeaders = config.headers.concat();
    nextHeaders.delete('Authorization');
    nextHeaders.delete('DPoP');
    // Without a body, the headers that described it go too.
    if (dropsBody) nextHeaders.clear(/^content-/i);
    const sameOrigin = next.origin === state.origin;
    if (!sameOrigin) {
      nextHeaders.delete('Cookie');
      state.bearerSent = false;
    }
    return instance.request({
      ...config,
      url: next.href,
      baseURL: undefined,
      params: undefined,
      method,
      data: dropsBody ? undefined : config.data,
      headers: nextHeaders,
      // Off the checked origin nothing of ours is left to guard: axios may follow the rest itself.
      maxRedirects: sameOrigin ? 0 : state.redirectsLeft,
      refreshkitCall: state,
    });
  }

  const requestId = instance.interceptors.request.use(withCredentials);
  const responseId = instance.interceptors.response.use(
    // Only a 401 or a redirect of a DPoP call costs a promise: every other response passes through as it came.
    (response: AxiosResponse) => continuation(response) ?? response,
    async (error: AxiosError) => {
      const again = continuation(error?.response);
      if (again === undefined) throw withoutCredentials(error);
      return again;
    },
  );
  return function ejectBearerInterceptors() {
    instance.interceptors.request.eject(requestId);
    instance.interceptors.response.eject(responseId);
  };
}

/** The signal of a call, as core takes it. */
function signalOf(config: InternalAxiosRequestConfig): AbortSignal | undefined {
  return config.signal instanceof AbortSignal ? config.signal : undefined;
}

/** Sets the headers that authorize `config`'s request (a bearer, or DPoP with a proof for its URL). */
async function authorize(config: InternalAxiosRequestConfig, credentials: CallCredentials): Promise<void> {
  config.headers.delete('Authorization');
  config.headers.delete('DPoP');
  const headers =
    credentials.fixedHeaders ??
    (await credentials.headersFor(new URL(fullPathOf(config)), (config.method ?? 'GET').toUpperCase()));
  config.headers.set(headers);
}

/** One response header value as axios gives it. */
function headerOf(value: unknown): string | undefined {
  if (Array.isArray(value)) return value.join(', ');
  return typeof value === 'string' ? value : undefined;
}

/**
 * Hides the token (and DPoP proof) a failed call sent from the error the
 * caller gets, which applications log: axios keeps the request config (its
 * headers) and the Node request (its raw header block) on the error and on
 * its response. The config's `Authorization` and `DPoP` are masked, and the
 * requests stay readable but no longer enumerable, so `inspect` and
 * `JSON.stringify` skip them.
 * Errors of calls that carried no bearer of ours are left as they are.
 */
function withoutCredentials(error: AxiosError): AxiosError {
  const config = error?.config;
  if (config === undefined || CallState.of(config) === undefined) return error;
  const authorization = config.headers.get('Authorization');
  if (typeof authorization === 'string')
    config.headers.set('Authorization', `${authorization.split(' ', 1)[0]} [REDACTED]`);
  if (config.headers.has('DPoP')) config.headers.set('DPoP', '[REDACTED]');
  for (const holder of [error, error.response]) {
    if (holder?.request !== undefined) {
      Object.defineProperty(holder, 'request', { value: holder.request, enumerable: false, writable: true });
    }
  }
  return error;
}

/**
 * The `beforeRedirect` of one bearer call: runs the caller's own, then keeps
 * the bearer only on a hop to the checked origin (the redirect library strips
 * `Authorization` on every hop, so a same-origin hop gets it back) and
 * removes any `Authorization` elsewhere.
 */
function guardRedirect(state: CallState): BeforeRedirect {
  return function refreshkitBeforeRedirect(options, responseDetails, requestDetails) {
    state.callerBeforeRedirect?.(options, responseDetails, requestDetails);
    const headers = (options.headers ?? {}) as Record<string, unknown>;
    for (const name of Object.keys(headers)) if (name.toLowerCase() === 'authorization') delete headers[name];
    const sameOrigin = typeof options.href === 'string' && new URL(options.href).origin === state.origin;
    state.bearerSent = state.bearerSent && sameOrigin;
    if (state.bearerSent) Object.assign(headers, state.credentials.fixedHeaders);
    options.headers = headers;
  };
}
