import {
  KEY_HEADER,
  OutboundBearer,
  RetryBudget,
  isReplayableBody,
  type CallCredentials,
  type OutboundBearerOptions,
} from '@refreshkit/core/adapter';
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
  /** Made at the first 401: most calls never need one. */
  retries: RetryBudget | undefined;
  /** Set after a 401 that invalidated the token: the retry must get a fresh one first. */
  needsToken: boolean;
  /** Whether the latest hop carried the bearer. */
  bearerSent: boolean;
}

const STATE = Symbol('refreshkit.bearer');

/**
 * The credentials (token) each call's state last sent. Kept beside the
 * state, not in it: got's errors carry the options, and so the context,
 * which applications log.
 */
const sentCredentials = new WeakMap<BearerState, CallCredentials>();

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
 * - a key whose endpoint has a DPoP key sends its DPoP-bound token as
 *   `Authorization: DPoP` with a new proof for every request (each redirect
 *   hop on the checked origin, each retry), and a DPoP nonce challenge earns
 *   one more try with the server's nonce (a nonce and then a refresh both
 *   retried needs got 14.5 or later; older got retries once);
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
    if (state !== undefined) {
      // A retry: the whole call again from its first URL, with a fresh token after a refresh.
      state.bearerSent = true;
      return applyCredentials(request, state, await freshCredentials(state, request));
    }
    const named = request.headers[KEY_HEADER];
    delete request.headers[KEY_HEADER];
    const key = await bearer.keyOf(request, typeof named === 'string' ? named : undefined);
    if (key === undefined || key === '') return;
    const origin = bearer.allowedOriginOf(request.url as URL | string);
    const credentials = await bearer.credentials(key, request.signal);
    const created: BearerState = { key, origin, retries: undefined, needsToken: false, bearerSent: true };
    sentCredentials.set(created, credentials);
    (request.context as Record<symbol, BearerState>)[STATE] = created;
    await applyCredentials(request, created, credentials);
  };

  async function freshCredentials(state: BearerState, request: RequestOptions): Promise<CallCredentials> {
    if (!state.needsToken) return sentCredentials.get(state)!;
    const credentials = await bearer.credentials(state.key, request.signal);
    sentCredentials.set(state, credentials);
    state.needsToken = false;
    return credentials;
  }

  const beforeRedirect: BeforeRedirectHook = async (request, response) => {
    const state = stateOf(request);
    if (state === undefined) return;
    const credentials = sentCredentials.get(state)!;
    learnNonce(state, credentials, response.headers['dpop-nonce']);
    await applyCredentials(request, state, credentials);
  };

  const afterResponse: AfterResponseHook = async (response, retryWithMergedOptions) => {
    const { options: request } = response.request;
    const state = stateOf(request);
    if (state === undefined || !state.bearerSent) return response;
    const credentials = sentCredentials.get(state)!;
    learnNonce(state, credentials, response.headers['dpop-nonce']);
    if (response.statusCode !== 401 || !isReplayableBody(request.body)) return response;
    const challenge = response.headers['www-authenticate'];
    const reason = (state.retries ??= new RetryBudget()).take(401, challenge, credentials.dpop);
    if (reason === undefined) return response;
    if (reason === 'refresh') {
      await bearer.invalidate(state.key, credentials.accessToken);
      state.needsToken = true;
    }
    // A DPoP call may earn a second retry (a nonce, then a refresh): this
    // hook must see the retried response too, which got 14.5+ allows.
    const again = credentials.dpop && preservesHooks(request) ? { preserveHooks: true } : {};
    return retryWithMergedOptions(again);
  };

  // The error the caller gets (and logs) carries the options it was sent
  // with: the bearer there is masked.
  const beforeError: BeforeErrorHook = (error) => {
    const headers = error.options?.headers;
    if (headers !== undefined && stateOf(error.options) !== undefined && headers.authorization !== undefined) {
      headers.authorization = `${String(headers.authorization).split(' ', 1)[0]} [REDACTED]`;
      if (headers.dpop !== undefined) headers.dpop = '[REDACTED]';
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
 * Sets the credentials on a request to the checked origin (once they have
 * left it, they do not come back), and removes any `Authorization` and
 * DPoP proof elsewhere.
 */
async function applyCredentials(request: RequestOptions, state: BearerState, credentials: CallCredentials) {
  const url = request.url;
  const origin = url === undefined ? undefined : new URL(url).origin;
  state.bearerSent = state.bearerSent && origin === state.origin;
  for (const name of Object.keys(request.headers)) {
    const lower = name.toLowerCase();
    if (lower === 'authorization' || lower === 'dpop') delete request.headers[name];
  }
  if (!state.bearerSent) return;
  const headers = credentials.fixedHeaders ?? (await credentials.headersFor(url!, request.method));
  Object.assign(request.headers, headers);
}

/** Whether this got knows `preserveHooks` (14.5+; older ones refuse any option they do not know). */
let hooksPreservable: boolean | undefined;

function preservesHooks(request: object): boolean {
  if (hooksPreservable === undefined) {
    const Options = request.constructor as new (url: undefined, options: object) => unknown;
    try {
      new Options(undefined, { preserveHooks: true });
      hooksPreservable = true;
    } catch {
      hooksPreservable = false;
    }
  }
  return hooksPreservable;
}

/** Keeps a DPoP server's new nonce, from an answer to a request that carried our proof. */
function learnNonce(state: BearerState, credentials: CallCredentials, nonce: string | string[] | undefined): void {
  if (state.bearerSent && credentials.dpop && typeof nonce === 'string') credentials.learnNonce(state.origin, nonce);
}
