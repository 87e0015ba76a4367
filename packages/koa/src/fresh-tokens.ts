import type { IncomingMessage } from 'node:http';
// Loads @types/koa so the augmentation below resolves under NodeNext (koa's own exports carry no types).
import type {} from 'koa';
import {
  RequestTokens,
  toTokensUnavailable,
  validateFreshTokensOptions,
  type FreshTokensOptions,
} from '@refreshkit/core';

/** The part of a Koa context the middleware touches; any Koa 2 or 3 context fits. */
export interface TokensContext {
  readonly req: IncomingMessage;
  state: object;
}

declare module 'koa' {
  interface DefaultState {
    /** Fresh tokens for this request's key, from `@refreshkit/koa`. */
    tokens: RequestTokens;
  }
}

/**
 * Koa middleware that puts `ctx.state.tokens` (`getAccessToken()`,
 * `fetch(input, init)`, `authorizationHeader()`) on each request, for the
 * key `key(ctx)` names. Works with Koa 2 and 3.
 *
 * Nothing runs per request until a handler asks for a token, except with
 * `forward`. Failures are thrown with `status` 401 or 503 and `expose` true.
 *
 * @example
 * app.use(freshTokens({ cache, key: (ctx) => ctx.state.user?.id }));
 * router.get('/me', async (ctx) => { ctx.body = await (await ctx.state.tokens.fetch(apiUrl)).json(); });
 */
export function freshTokens<Ctx extends TokensContext = TokensContext>(
  options: FreshTokensOptions<Ctx>,
): (ctx: Ctx, next: () => Promise<unknown>) => Promise<void> {
  const { cache, key, forward } = validateFreshTokensOptions(options);
  return async function freshTokensMiddleware(ctx, next) {
    const tokens = new RequestTokens(cache, () => key(ctx));
    (ctx.state as { tokens: RequestTokens }).tokens = tokens;
    if (forward !== undefined) {
      try {
        ctx.req.headers.authorization = await tokens.authorizationHeader();
      } catch (error) {
        throw toTokensUnavailable(error);
      }
    }
    await next();
  };
}
