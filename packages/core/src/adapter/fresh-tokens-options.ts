import type { TokenCache } from '../token-cache.js';
import { invalid } from '../validate.js';

/**
 * Options of the `freshTokens` middleware factories of `@refreshkit/express`
 * (`Subject` is the request) and `@refreshkit/koa` (`Subject` is the context).
 */
export interface FreshTokensOptions<Subject> {
  /** The cache that holds the tokens. Required. */
  readonly cache: TokenCache;
  /**
   * Names the key (a user id, a tenant) of a request. May be async;
   * `undefined` means the request has no tokens: a 401 once a handler asks.
   */
  readonly key: (subject: Subject) => string | undefined | Promise<string | undefined>;
  /**
   * For backend-for-frontend proxies: the origin requests are proxied to.
   * The middleware then sets `Authorization: Bearer …` on the incoming
   * request for the proxy to forward. It must be one of the cache's
   * `allowedOrigins`, so the bearer is never forwarded anywhere else. A
   * DPoP-bound token cannot be forwarded this way (its proof names the
   * upstream request): the request then fails with a 500 whose `cause` is
   * `DpopProofRequiredError`.
   */
  readonly forward?: string;
}

/**
 * Validates middleware options once, at creation, and returns a copy.
 *
 * @throws TypeError naming the bad option.
 */
export function validateFreshTokensOptions<Subject>(options: FreshTokensOptions<Subject>): FreshTokensOptions<Subject> {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'an object', options);
  const { cache, key, forward } = options;
  if (typeof cache?.getAccessToken !== 'function' || typeof cache.isAllowedOrigin !== 'function') {
    throw invalid('cache', 'a TokenCache', cache);
  }
  if (typeof key !== 'function') throw invalid('key', 'a function of the request', key);
  if (forward !== undefined && (typeof forward !== 'string' || !cache.isAllowedOrigin(forward))) {
    throw invalid('forward', "one of the cache's `allowedOrigins`", forward);
  }
  return { cache, key, ...(forward !== undefined && { forward }) };
}
