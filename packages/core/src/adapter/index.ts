/**
 * `@refreshkit/core/adapter`: what framework adapters share, for the
 * adapter packages (`@refreshkit/express`, `@refreshkit/koa`) and anyone
 * writing one for another framework. Applications import from
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
  methodAfterRedirect,
  type OutboundKey,
  type OutboundBearerOptions,
} from './outbound-bearer.js';
