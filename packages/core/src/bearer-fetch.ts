import { credentialsForKey, refuseDpopBound, type CallCredentials } from './call-credentials.js';
import type { DpopProver } from './dpop-prover.js';
import { OriginNotAllowedError } from './errors.js';
import { followRedirects, hopHeaders, isRedirect } from './outbound-hops.js';
import { originOf } from './origin-of.js';
import { RetryBudget } from './retry-budget.js';
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
 * `fetch` with the fresh token of `key`.
 *
 * - The token goes only to `allowedOrigins`; any other origin rejects with
 *   `OriginNotAllowedError` before anything is sent.
 * - Redirects are followed by hand: a hop to another origin drops the token.
 * - A 401 invalidates the token that was sent (only if it is still current,
 *   so concurrent 401s cost one refresh) and retries once with a fresh token.
 *   A body that cannot be replayed (a stream) is not retried. Without
 *   `dpop`, a DPoP-bound token (written by a process with a DPoP key) is
 *   not refreshed here: `DpopKeyMismatchError`. `onRetry` hears of each
 *   retry (for tracing), with the origin.
 * - With `dpop` (the key's endpoint has a DPoP key, RFC 9449 §7), a
 *   DPoP-bound token goes as `Authorization: DPoP <token>` with a new proof
 *   per hop (method, URL without query and fragment, `ath` of the token, the
 *   server's nonce); a bearer token (a server that did not bind) goes as a
 *   bearer. A 401 that asks for a nonce is retried once with it, the token
 *   kept. A token bound to another key than `dpop`'s is refused before
 *   sending (`DpopKeyMismatchError`).
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
  // meanwhile cannot redirect the token. A string is sent as it is, so fetch
  // parses it once and the common case allocates no URL of ours.
  if (input instanceof Request) [target, options] = await fromRequest(input, init);
  else {
    target = input instanceof URL ? input.href : String(input);
    options = init ?? NO_INIT;
  }
  const origin = originOf(target, allowedOrigins);
  if (!allowedOrigins.has(origin)) throw new OriginNotAllowedError(origin);
  const replayable = isReplayable(options.body);
  const tokenOptions = options.signal ? { signal: options.signal } : undefined;
  const hasBody = options.body !== undefined;
  let retries: RetryBudget | undefined; // made at the first 401: most calls never need one
  // Sent again only after a 401 that earns it (RetryBudget): a refresh, or a DPoP nonce.
  for (;;) {
    const credentials = await credentialsForKey(source, key, dpop, tokenOptions);
    const authorizing = credentials.fixedHeaders ?? (await proofHeaders(credentials, target, options));
    let response = await fetchImpl(target, {
      ...options,
      headers: hopHeaders(options.headers, authorizing, hasBody),
      redirect: 'manual',
    });
    if (dpop !== undefined) learnNonceOf(dpop, origin, response);
    let bearerSent = true;
    if (options.redirect !== 'manual' && isRedirect(response.status)) {
      const observe = dpop && ((hop: URL, answer: Response) => learnNonceOf(dpop, hop.origin, answer));
      const sent = { target, origin, options, replayable };
      ({ response, bearerSent } = await followRedirects(fetchImpl, response, sent, credentials.headersFor, observe));
    }
    if (response.status !== 401 || !bearerSent || !replayable) return response;
    const challenge = response.headers.get('www-authenticate');
    const reason = (retries ??= new RetryBudget()).take(401, challenge, credentials.dpop);
    if (reason === undefined) return response;
    await response.body?.cancel().catch(() => {});
    // A cache without DPoP must not refresh a DPoP-bound token another process wrote.
    if (dpop === undefined) await refuseDpopBound(source, key, credentials.accessToken);
    onRetry?.(origin);
    // After a nonce challenge the token is fine: only the proof was stale.
    if (reason === 'refresh') await source.invalidate(key, credentials.accessToken);
  }
}

/** The headers of the first hop of a DPoP call: its token and a proof naming `target` and the method. */
function proofHeaders(credentials: CallCredentials, target: string | URL, options: RequestInit) {
  const url = typeof target === 'string' ? new URL(target) : target;
  return credentials.headersFor(url, (options.method ?? 'GET').toUpperCase());
}

/**
 * Keeps the `DPoP-Nonce` of an answer from `origin` (RFC 9449 §9: any answer
 * may carry a new one), whatever token the call carried: the prover's
 * nonces serve its next proof there, for the token endpoint too.
 */
function learnNonceOf(dpop: DpopProver, origin: string, response: Response): void {
  void dpop.learnNonce(origin, response.headers.get('dpop-nonce'));
}
