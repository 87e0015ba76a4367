import { OriginNotAllowedError } from './errors.js';
import { originOf } from './origin-of.js';
import type { GetAccessTokenOptions } from './token-cache-options.js';

/** What `fetchWithBearer` needs from a cache. */
export interface BearerSource {
  getAccessToken(key: string, options?: GetAccessTokenOptions): Promise<string>;
  invalidate(key: string, token?: string): Promise<boolean>;
}

/** Redirects followed by hand before giving up, as browsers do. */
const MAX_REDIRECTS = 20;

/** What a 301, 302 or 303 redirect makes of a request that was not a GET or HEAD. */
const AS_GET = Object.freeze({ method: 'GET', body: undefined });

/** The init of a call that passed none; never mutated, only spread. */
const NO_INIT: RequestInit = Object.freeze({});

/** Bodies that can be sent twice (for a 401 retry or a 307/308 redirect). */
function isReplayable(body: unknown): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof URLSearchParams ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof Blob ||
    body instanceof FormData
  );
}

/** Reads a `Request` (merged with `init`) into a URL and an init whose body can be inspected and replayed. */
async function fromRequest(input: Request, init: RequestInit | undefined): Promise<[URL, RequestInit]> {
  const request = new Request(input, init);
  const body = request.body === null ? undefined : await request.arrayBuffer();
  return [
    new URL(request.url),
    {
      method: request.method,
      headers: request.headers,
      body,
      signal: request.signal,
      redirect: request.redirect,
      ...(init?.signal && { signal: init.signal }),
    },
  ];
}

/**
 * The headers of one hop: the caller's, with the bearer set or removed.
 * Without caller headers, a plain object is enough, and it spares fetch a
 * `Headers` copy on the common path.
 */
function hopHeaders(callerHeaders: HeadersInit | undefined, token: string | undefined, hasBody: boolean): HeadersInit {
  if (callerHeaders === undefined) return token === undefined ? {} : { authorization: `Bearer ${token}` };
  const headers = new Headers(callerHeaders);
  if (token === undefined) headers.delete('authorization');
  else headers.set('authorization', `Bearer ${token}`);
  // Without a body (none given, or dropped by a redirect to GET) a content-type would describe nothing.
  if (!hasBody) headers.delete('content-type');
  return headers;
}

/**
 * `fetch` with the fresh bearer of `key`.
 *
 * - The bearer goes only to `allowedOrigins`; any other origin rejects with
 *   `OriginNotAllowedError` before anything is sent.
 * - Redirects are followed by hand: a hop to another origin drops the bearer.
 * - A 401 invalidates the token that was sent (only if it is still current,
 *   so concurrent 401s cost one refresh) and retries once with a fresh token.
 *   A body that cannot be replayed (a stream) is not retried. `onRetry`
 *   hears of each such retry (for tracing), with the origin.
 */
export async function fetchWithBearer(
  source: BearerSource,
  key: string,
  allowedOrigins: ReadonlySet<string>,
  fetchImpl: typeof globalThis.fetch,
  input: RequestInfo | URL,
  init?: RequestInit,
  onRetry?: (origin: string) => void,
): Promise<Response> {
  let target: string | URL;
  let options: RequestInit;
  // Only a Request needs awaiting (its body). Anything else is read once,
  // into a string, before any await: the origin is checked on that string
  // and that string is what is sent, so a caller mutating its URL object
  // meanwhile cannot redirect the bearer. A string is sent as it is, so fetch
  // parses it once and the common case allocates no URL of ours.
  if (input instanceof Request) [target, options] = await fromRequest(input, init);
  else {
    target = input instanceof URL ? input.href : String(input);
    options = init ?? NO_INIT;
  }
  const origin = originOf(target, allowedOrigins);
  if (!allowedOrigins.has(origin)) throw new OriginNotAllowedError(origin);
  const replayable = isReplayable(options.body);
  const hasBody = options.body !== undefined;
  const tokenOptions = options.signal ? { signal: options.signal } : undefined;

  // Two attempts at most: the second only after a 401 to a request that carried the bearer.
  for (let attempt = 1; ; attempt++) {
    const token = await source.getAccessToken(key, tokenOptions);
    const headers = hopHeaders(options.headers, token, hasBody);
    let response = await fetchImpl(target, { ...options, headers, redirect: 'manual' });
    let bearerSent = true;
    if (options.redirect !== 'manual' && isRedirect(response.status)) {
      const sent = { target, origin, options, replayable };
      ({ response, bearerSent } = await followRedirects(fetchImpl, response, sent, token));
    }
    if (attempt === 2 || response.status !== 401 || !bearerSent || !replayable) return response;
    await response.body?.cancel().catch(() => {});
    onRetry?.(origin);
    await source.invalidate(key, token);
  }
}

/** Whether `status` may be a redirect; only then are a response's headers read for a `Location`. */
function isRedirect(status: number): boolean {
  return status >= 300 && status < 400;
}

/** The first request of a `fetchWithBearer` call, as a redirect needs it. */
interface SentRequest {
  readonly target: string | URL;
  /** The origin of `target`: the only one the bearer may go to. */
  readonly origin: string;
  readonly options: RequestInit;
  readonly replayable: boolean;
}

/**
 * Follows by hand the redirect `response` that answered `sent` (every hop is
 * sent with `redirect: 'manual'`), so the bearer is attached only while the
 * request stays on its origin. `bearerSent` tells whether the final response
 * answered a request that carried the bearer (the only case in which a 401
 * retry makes sense).
 */
async function followRedirects(
  fetchImpl: typeof globalThis.fetch,
  response: Response,
  { target, origin, options, replayable }: SentRequest,
  token: string,
): Promise<{ response: Response; bearerSent: boolean }> {
  let current = target;
  let bearerSent = true;
  // Set once a redirect has turned the request into a GET without a body;
  // until then each hop sends the caller's method and body as they are.
  let asGet: typeof AS_GET | undefined;
  for (let hop = 1; ; hop++) {
    const { status } = response;
    const location = isRedirect(status) ? response.headers.get('location') : null;
    if (location === null) return { response, bearerSent };
    if (options.redirect === 'error') throw new TypeError(`Redirect to another URL refused (\`redirect: 'error'\`)`);
    if (hop > MAX_REDIRECTS) throw new TypeError(`Too many redirects (more than ${MAX_REDIRECTS})`);
    const keepsMethod = status === 307 || status === 308;
    if (keepsMethod && !replayable) return { response, bearerSent };
    await response.body?.cancel().catch(() => {});
    const method = (options.method ?? 'GET').toUpperCase();
    if (!keepsMethod && method !== 'GET' && method !== 'HEAD') asGet = AS_GET;
    current = new URL(location, current);
    bearerSent = current.origin === origin;
    const hasBody = asGet === undefined && options.body !== undefined;
    const headers = hopHeaders(options.headers, bearerSent ? token : undefined, hasBody);
    response = await fetchImpl(current, { ...options, ...asGet, headers, redirect: 'manual' });
  }
}
