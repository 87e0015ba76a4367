export { freshTokens, type TokensState } from './fresh-tokens.js';
export { RequestTokens, TokensUnavailableError, type FreshTokensOptions } from '@refreshkit/core/adapter';
