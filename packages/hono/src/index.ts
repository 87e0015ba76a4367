export { freshTokens, type TokensEnv, type TokensVariables } from './fresh-tokens.js';
export { HonoRequestTokens } from './hono-request-tokens.js';
export { TokensHttpException } from './http-exception-from.js';
export { RequestTokens, TokensUnavailableError, type FreshTokensOptions } from '@refreshkit/core/adapter';
