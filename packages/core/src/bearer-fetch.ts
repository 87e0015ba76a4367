import { fetchWithDpop } from './dpop-fetch.js';
import type { DpopProver } from './dpop-prover.js';
import { refuseDpopBound } from './call-credentials.js';
import { OriginNotAllowedError } from './errors.js';
import { followRedirects, hopHeaders, isRedirect } from './outbound-hops.js';
import { originOf } from './origin-of.js';
import type { GetAccessTokenOptions } from './token-cache-options.js';
import type { TokenSet } from './token-set.js';

/** What `fetchWithBearer` needs from a cache. */
export interface BearerSource {
  getAccessToken(key: string, options?: GetAccessTokenOptions): Promise<string>;
  invalidate(key: string, token?: string): Promise<boolean>;
  /** The whole token set (its type and DPoP binding); needed only with a DPoP prover. */
  getTokenSet?(key: string, options?: GetAccessTokenOptions): Promise<TokenSet>;
}

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
 * `fetch` with the fresh bearer of `key`.
 *
 * - The bearer goes only to `allowedOrigins`; any other origin rejects with
 *   `OriginNotAllowedError` before anything is sent.
 * - Redirects are followed by hand: a hop to another origin drops the bearer.
 * - A 401 invalidates the token that was sent (only if it is still current,
 *   so concurrent 401s cost one refresh) and retries once with a fresh token.
 *   A body that cannot be replayed (a stream) is not retried. A DPoP-bound
 *   token (written by a process with a DPoP key) is not refreshed here:
 *   `DpopKeyMismatchError`. `onRetry` hears of each retry (for tracing),
 *   with the origin.
 * - With `dpop` (the key's endpoint has a DPoP key), the call goes through
 *   `fetchWithDpop`: a DPoP-bound token is sent with a proof per hop.
 */
export async function fetchWithBearer(
  source: BearerSource,
  key: string,
  allowedOrigins: ReadonlySet<string>,
  fetchImpl: typeof globalThis.fetch,
  input: RequestInfo | URL,
  init?: RequestInit,
  dpop?: DpopProver,
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
  if (dpop !== undefined) {
    const sent = { target, origin, options, replayable };
    return fetchWithDpop(source, key, dpop, fetchImpl, sent, tokenOptions, onRetry);
  }

  // Two attempts at most: the second only after a 401 to a request that carried the bearer.
  for (let attempt = 1; ; attempt++) {
    const token = await source.getAccessToken(key, tokenOptions);
    const credentials = { authorization: `Bearer ${token}` };
    const headers = hopHeaders(options.headers, credentials, hasBody);
    let response = await fetchImpl(target, { ...options, headers, redirect: 'manual' });
    let bearerSent = true;
    if (options.redirect !== 'manual' && isRedirect(response.status)) {
      const sent = { target, origin, options, replayable };
      ({ response, bearerSent } = await followRedirects(fetchImpl, response, sent, () => credentials));
    }
    if (attempt === 2 || response.status !== 401 || !bearerSent || !replayable) return response;
    await response.body?.cancel().catch(() => {});
    await refuseDpopBound(source, key, token);
    onRetry?.(origin);
    await source.invalidate(key, token);
  }
}
