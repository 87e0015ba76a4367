/**
 * `cache.fetch` for a key whose endpoint has a DPoP key (RFC 9449 §7): a
 * DPoP-bound token goes as `Authorization: DPoP <token>` with a new proof
 * per hop (method, URL without query and fragment, `ath` of the token, the
 * server's nonce); a bearer token (a server that did not bind) goes as before.
 */
import type { BearerSource } from './bearer-fetch.js';
import { isNonceChallenge } from './dpop-binding.js';
import type { DpopProver } from './dpop-prover.js';
import { DpopKeyMismatchError } from './errors.js';
import { followRedirects, hopHeaders, isRedirect, type CredentialsFor, type SentRequest } from './outbound-hops.js';
import type { GetAccessTokenOptions } from './token-cache-options.js';
import type { TokenSet } from './token-set.js';

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
  const observe = (hopUrl: URL, response: Response): void => void dpop.learnNonce(hopUrl, response.headers);
  let nonceRetried = false;
  let invalidated = false;
  for (;;) {
    const tokens = await source.getTokenSet(key, tokenOptions);
    const credentialsFor = await credentialsOf(tokens, key, dpop);
    const headers = hopHeaders(options.headers, await credentialsFor(url, method), hasBody);
    let response = await fetchImpl(target, { ...options, headers, redirect: 'manual' });
    observe(url, response);
    let bearerSent = true;
    if (options.redirect !== 'manual' && isRedirect(response.status)) {
      ({ response, bearerSent } = await followRedirects(fetchImpl, response, sent, credentialsFor, observe));
    }
    if (response.status !== 401 || !bearerSent || !replayable) return response;
    const retryWithNonce = tokens.tokenType === 'dpop' && !nonceRetried && isNonceChallenge(response);
    if (!retryWithNonce && invalidated) return response;
    await response.body?.cancel().catch(() => {});
    onRetry?.(origin);
    if (retryWithNonce) nonceRetried = true;
    else {
      invalidated = true;
      await source.invalidate(key, tokens.accessToken);
    }
  }
}

/**
 * How each hop of a call with `tokens` is authorized. A DPoP-bound token
 * whose recorded key is not `dpop`'s is refused here, before anything is
 * sent. A DPoP token without a recorded key (set by the app from its own
 * code exchange) is tried with this process's key: a wrong guess costs one
 * 401, which the server would give anyway.
 */
async function credentialsOf(tokens: TokenSet, key: string, dpop: DpopProver): Promise<CredentialsFor> {
  const { accessToken } = tokens;
  if (tokens.tokenType !== 'dpop') {
    const bearer = { authorization: `Bearer ${accessToken}` };
    return () => bearer;
  }
  const ownJkt = await dpop.thumbprint();
  if (tokens.dpopJkt !== undefined && tokens.dpopJkt !== ownJkt) {
    throw new DpopKeyMismatchError(key, tokens.dpopJkt, ownJkt);
  }
  const authorization = `DPoP ${accessToken}`;
  return async (url, method) => ({ authorization, dpop: await dpop.proof({ method, url, accessToken }) });
}
