import { OriginNotAllowedError } from './errors.js';
import type { GetAccessTokenOptions } from './token-cache-options.js';

/** What `fetchWithBearer` needs from a cache. */
export interface BearerSource {
  getAccessToken(key: string, options?: GetAccessTokenOptions): Promise<string>;
  invalidate(key: string, token?: string): Promise<boolean>;
}

/** Redirects followed by hand before giving up, as browsers do. */
const MAX_REDIRECTS = 20;

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

/** Normalises `input` and `init` into a URL and an init whose body can be inspected. */
async function normalise(input: RequestInfo | URL, init: RequestInit | undefined): Promise<[URL, RequestInit]> {
  if (!(input instanceof Request)) return [new URL(String(input)), { ...init }];
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
  const [url, options] = await normalise(input, init);
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
  let method = (options.method ?? 'GET').toUpperCase();
  let body = options.body;
  for (let hop = 0; ; hop++) {
    const headers = new Headers(options.headers);
    const withBearer = current.origin === origin;
    if (withBearer) headers.set('authorization', `Bearer ${token}`);
    else headers.delete('authorization');
    if (body === undefined) headers.delete('content-type');
    const response = await fetchImpl(current, { ...options, method, headers, body, redirect: 'manual' });
    const location = response.headers.get('location');
    const isRedirect = response.status >= 300 && response.status < 400 && location !== null;
    if (!isRedirect || mode === 'manual') return { response, bearerSent: withBearer };
    if (mode === 'error') throw new TypeError(`Redirect to another URL refused (\`redirect: 'error'\`)`);
    if (hop >= MAX_REDIRECTS) throw new TypeError(`Too many redirects (more than ${MAX_REDIRECTS})`);
    const keepsMethod = response.status === 307 || response.status === 308;
    if (keepsMethod && !replayable) return { response, bearerSent: withBearer };
    await response.body?.cancel().catch(() => {});
    if (!keepsMethod && !(method === 'GET' || method === 'HEAD')) {
      method = 'GET';
      body = undefined;
    }
    current = new URL(location, current);
  }
}
