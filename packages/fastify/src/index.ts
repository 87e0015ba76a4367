export { freshTokens, PLUGIN_NAME } from './fresh-tokens.js';
export { RequestTokens, TokensUnavailableError, type FreshTokensOptions } from '@refreshkit/core/adapter';
