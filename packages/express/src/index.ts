export { freshTokens } from './fresh-tokens.js';
export { RequestTokens, TokensUnavailableError, type FreshTokensOptions } from '@refreshkit/core/adapter';
