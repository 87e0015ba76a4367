import { KEY_HEADER, OutboundBearer, isReplayableBody, type OutboundBearerOptions } from '@refreshkit/core/adapter';
import type { AxiosError, AxiosInstance, AxiosRequestConfig, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import { fullPathOf } from './full-path.js';

declare module 'axios' {
  interface AxiosRequestConfig {
    /**
     * Set by `@refreshkit/axios` on the one retry it sends after a 401, so
     * that retry is never retried. Not for callers.
     */
    refreshkitRetry?: boolean;
  }
}

/** Options of {@link bearerInterceptors}; `key` is a function of the axios request config. */
export type BearerInterceptorsOptions = OutboundBearerOptions<InternalAxiosRequestConfig>;

/** What one call with a bearer needs to remember between its request and its response. */
interface BearerState {
  readonly key: string;
  readonly origin: string;
  readonly token: string;
  /** Whether the last hop (after redirects) carried the bearer. */
  bearerSent: boolean;
  /** The caller's own `beforeRedirect`, run before ours on each hop. */
  readonly callerBeforeRedirect: AxiosRequestConfig['beforeRedirect'];
}

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
 * - token failures reject with the core's typed errors; timeouts and aborts
 *   pass through and leave the cache as it was.
 *
 * Redirects are checked through axios's `beforeRedirect`, which its Node
 * `http` adapter (the default on Node) runs.
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
  const states = new WeakMap<object, BearerState>();

  async function withBearer(config: InternalAxiosRequestConfig): Promise<InternalAxiosRequestConfig> {
    const named = config.headers.get(KEY_HEADER);
    config.headers.delete(KEY_HEADER);
    const key = await bearer.keyOf(config, typeof named === 'string' ? named : undefined);
    if (key === undefined || key === '') return config;
    const origin = bearer.allowedOriginOf(fullPathOf(config));
    const signal = config.signal instanceof AbortSignal ? config.signal : undefined;
    const token = await bearer.token(key, signal);
    config.headers.set('Authorization', `Bearer ${token}`);
    const state: BearerState = { key, origin, token, bearerSent: true, callerBeforeRedirect: config.beforeRedirect };
    config.beforeRedirect = guardRedirect(state);
    states.set(config, state);
    return config;
  }

  /** Sends the call once more after a 401 to its bearer, or returns `undefined`. */
  async function retried(config: InternalAxiosRequestConfig | undefined, status: number | undefined) {
    const state = config && states.get(config);
    if (state === undefined || status === undefined) return undefined;
    const attempt = config!.refreshkitRetry ? 2 : 1;
    if (!bearer.shouldRetry(status, attempt, state.bearerSent, isReplayableBody(config!.data))) return undefined;
    await bearer.invalidate(state.key, state.token);
    const headers = config!.headers.concat({ [KEY_HEADER]: state.key });
    headers.delete('Authorization');
    return instance.request({
      ...config,
      headers,
      beforeRedirect: state.callerBeforeRedirect,
      refreshkitRetry: true,
    });
  }

  const requestId = instance.interceptors.request.use(withBearer);
  const responseId = instance.interceptors.response.use(
    // Only a 401 costs a promise: every other response passes through as it came.
    (response: AxiosResponse) =>
      response.status === 401 ? retried(response.config, 401).then((again) => again ?? response) : response,
    async (error: AxiosError) => {
      const again = await retried(error?.config, error?.response?.status);
      if (again === undefined) throw withoutBearer(error, states);
      return again;
    },
  );
  return function ejectBearerInterceptors() {
    instance.interceptors.request.eject(requestId);
    instance.interceptors.response.eject(responseId);
  };
}

/**
 * Hides the bearer a failed call sent from the error the caller gets, which
 * applications log: axios keeps the request config (its headers) and the
 * Node request (its raw header block) on the error and on its response.
 * The config's `Authorization` is masked, and the requests stay readable
 * but no longer enumerable, so `inspect` and `JSON.stringify` skip them.
 * Errors of calls that carried no bearer of ours are left as they are.
 */
function withoutBearer(error: AxiosError, states: WeakMap<object, BearerState>): AxiosError {
  const config = error?.config;
  if (config === undefined || !states.has(config)) return error;
  config.headers.set('Authorization', 'Bearer [REDACTED]');
  for (const holder of [error, error.response]) {
    if (holder?.request !== undefined) {
      Object.defineProperty(holder, 'request', { value: holder.request, enumerable: false, writable: true });
    }
  }
  return error;
}

/**
 * The `beforeRedirect` of one call: runs the caller's own, then keeps the
 * bearer only on a hop to the checked origin (the redirect library strips
 * `Authorization` on every hop, so a same-origin hop gets it back) and
 * removes any `Authorization` elsewhere.
 */
function guardRedirect(state: BearerState): BeforeRedirect {
  return function refreshkitBeforeRedirect(options, responseDetails, requestDetails) {
    state.callerBeforeRedirect?.(options, responseDetails, requestDetails);
    const headers = (options.headers ?? {}) as Record<string, unknown>;
    for (const name of Object.keys(headers)) if (name.toLowerCase() === 'authorization') delete headers[name];
    const sameOrigin = typeof options.href === 'string' && new URL(options.href).origin === state.origin;
    state.bearerSent = state.bearerSent && sameOrigin;
    if (state.bearerSent) headers.authorization = `Bearer ${state.token}`;
    options.headers = headers;
  };
}
