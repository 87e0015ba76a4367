import { OriginNotAllowedError } from './errors.js';
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
 *   A body that cannot be replayed (a stream) is not retried.
 */
export async function fetchWithBearer(
  source: BearerSource,
  key: string,
  allowedOrigins: ReadonlySet<string>,
  fetchImpl: typeof globalThis.fetch,
  input: RequestInfo | URL,
  init?: RequestInit,
): Promise<Response> {
  // Only a Request needs awaiting (its body); a string or URL is read at once.
  const [url, options] =
    input instanceof Request ? await fromRequest(input, init) : [new URL(String(input)), init ?? NO_INIT];
  if (!allowedOrigins.has(url.origin)) throw new OriginNotAllowedError(url.origin);
  const replayable = isReplayable(options.body);
  const tokenOptions = options.signal ? { signal: options.signal } : undefined;

  let token = await source.getAccessToken(key, tokenOptions);
  const first = await sendFollowingRedirects(fetchImpl, url, options, token, replayable);
  if (first.response.status !== 401 || !first.bearerSent || !replayable) return first.response;
  await first.response.body?.cancel().catch(() => {});
  await source.invalidate(key, token);
  token = await source.getAccessToken(key, tokenOptions);
  return (await sendFollowingRedirects(fetchImpl, url, options, token, replayable)).response;
}

/**
 * Sends with `redirect: 'manual'` and follows redirects itself, so the
 * bearer is attached only while the request stays on its first origin.
 * `bearerSent` tells whether the final response answered a request that
 * carried the bearer (the only case in which a 401 retry makes sense).
 */
async function sendFollowingRedirects(
  fetchImpl: typeof globalThis.fetch,
  url: URL,
  options: RequestInit,
  token: string,
  replayable: boolean,
): Promise<{ response: Response; bearerSent: boolean }> {
  const mode = options.redirect ?? 'follow';
  const origin = url.origin;
  let current = url;
  // Set once a redirect has turned the request into a GET without a body;
  // until then each hop sends the caller's method and body as they are.
  let asGet: typeof AS_GET | undefined;
  for (let hop = 0; ; hop++) {
    const withBearer = current.origin === origin;
    const hasBody = asGet === undefined && options.body !== undefined;
    const headers = hopHeaders(options.headers, withBearer ? token : undefined, hasBody);
    const response = await fetchImpl(current, { ...options, ...asGet, headers, redirect: 'manual' });
    const { status } = response;
    // Only a 3xx has its headers read: most responses are not redirects.
    const location = status >= 300 && status < 400 ? response.headers.get('location') : null;
    if (location === null || mode === 'manual') return { response, bearerSent: withBearer };
    if (mode === 'error') throw new TypeError(`Redirect to another URL refused (\`redirect: 'error'\`)`);
    if (hop >= MAX_REDIRECTS) throw new TypeError(`Too many redirects (more than ${MAX_REDIRECTS})`);
    const keepsMethod = status === 307 || status === 308;
    if (keepsMethod && !replayable) return { response, bearerSent: withBearer };
    await response.body?.cancel().catch(() => {});
    const method = (options.method ?? 'GET').toUpperCase();
    if (!keepsMethod && method !== 'GET' && method !== 'HEAD') asGet = AS_GET;
    current = new URL(location, current);
  }
}
