/**
 * `@refreshkit/core/adapter`: what framework and HTTP client adapters share,
 * for the adapter packages (`@refreshkit/express`, `@refreshkit/undici`, ...)
 * and anyone writing one for another framework or client. Applications import from
 * `@refreshkit/core` and their framework's adapter instead.
 */
export { RequestTokens, type KeyResolver } from './request-tokens.js';
export { TokensUnavailableError, tokensUnavailableFrom } from './tokens-unavailable.js';
export { validateFreshTokensOptions, type FreshTokensOptions } from './fresh-tokens-options.js';
export {
  OutboundBearer,
  KEY_HEADER,
  MAX_REDIRECTS,
  isReplayableBody,
  isFollowedRedirect,
  isPromiseLike,
  methodAfterRedirect,
  type OutboundKey,
  type OutboundBearerOptions,
} from './outbound-bearer.js';
export { RetryBudget, type RetryReason } from '../retry-budget.js';
export type { CallCredentials } from '../call-credentials.js';
export type { HopCredentials } from '../outbound-hops.js';
