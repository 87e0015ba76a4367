/**
 * `cache.fetch` for a key whose endpoint has a DPoP key (RFC 9449 §7): a
 * DPoP-bound token goes as `Authorization: DPoP <token>` with a new proof
 * per hop (method, URL without query and fragment, `ath` of the token, the
 * server's nonce); a bearer token (a server that did not bind) goes as before.
 */
import type { BearerSource } from './bearer-fetch.js';
import { credentialsOf } from './call-credentials.js';
import type { DpopProver } from './dpop-prover.js';
import { followRedirects, hopHeaders, isRedirect, type SentRequest } from './outbound-hops.js';
import { RetryBudget } from './retry-budget.js';
import type { GetAccessTokenOptions } from './token-cache-options.js';

/**
 * Sends `sent` with the fresh token of `key` and DPoP proofs.
 *
 * - A 401 that asks for a nonce (`WWW-Authenticate: DPoP
 *   error="use_dpop_nonce"` with `DPoP-Nonce`) is retried once with it; the
 *   token is not invalidated, since nothing is wrong with it.
 * - Any other 401 invalidates the token sent and retries once with a fresh
 *   one, as for bearer tokens.
 *
 * @throws DpopKeyMismatchError before sending, when the token is bound to
 * another key than `dpop`'s (processes sharing a store with different keys).
 */
export async function fetchWithDpop(
  source: BearerSource,
  key: string,
  dpop: DpopProver,
  fetchImpl: typeof globalThis.fetch,
  sent: SentRequest,
  tokenOptions: GetAccessTokenOptions | undefined,
  onRetry?: (origin: string) => void,
): Promise<Response> {
  const { target, origin, options, replayable } = sent;
  if (source.getTokenSet === undefined) {
    throw new TypeError('Expected the token source of a DPoP call to have `getTokenSet` (a TokenCache has it)');
  }
  const method = (options.method ?? 'GET').toUpperCase();
  const hasBody = options.body !== undefined;
  const url = typeof target === 'string' ? new URL(target) : target;
  const observe = (hopUrl: URL, response: Response): void =>
    void dpop.learnNonce(hopUrl.origin, response.headers.get('dpop-nonce'));
  const retries = new RetryBudget();
  for (;;) {
    const tokens = await source.getTokenSet(key, tokenOptions);
    const credentials = await credentialsOf(tokens, key, dpop);
    const headers = hopHeaders(options.headers, await credentials.headersFor(url, method), hasBody);
    let response = await fetchImpl(target, { ...options, headers, redirect: 'manual' });
    observe(url, response);
    let bearerSent = true;
    if (options.redirect !== 'manual' && isRedirect(response.status)) {
      const hops = await followRedirects(fetchImpl, response, sent, credentials.headersFor, observe);
      ({ response, bearerSent } = hops);
    }
    if (response.status !== 401 || !bearerSent || !replayable) return response;
    const reason = retries.take(401, response.headers.get('www-authenticate'), credentials.dpop);
    if (reason === undefined) return response;
    await response.body?.cancel().catch(() => {});
    onRetry?.(origin);
    if (reason === 'refresh') await source.invalidate(key, tokens.accessToken);
  }
}
