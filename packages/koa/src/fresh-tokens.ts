import type { DefaultContext, DefaultState, Next, ParameterizedContext } from 'koa';
import {
  RequestTokens,
  tokensUnavailableFrom,
  validateFreshTokensOptions,
  type FreshTokensOptions,
} from '@refreshkit/core/adapter';

/** What the middleware adds to `ctx.state`. */
export interface TokensState {
  /** Fresh tokens for this request's key, from `@refreshkit/koa`. */
  tokens: RequestTokens;
}

declare module 'koa' {
  // On the default context rather than DefaultState: an app's context type
  // is `{ state: StateT } & ContextT`, so this reaches `ctx.state.tokens`
  // in `new Koa<MyState>()` apps too, where DefaultState is not used.
  interface DefaultContext {
    state: TokensState;
  }
}

/**
 * Koa middleware that puts `ctx.state.tokens` (`getAccessToken()`,
 * `fetch(input, init)`, `authorizationHeader()`) on each request, for the
 * key `key(ctx)` names. Works with Koa 2 and 3.
 *
 * The resolver sees the context as Koa's own middleware do: with `new Koa()`,
 * `ctx.state` is Koa's `DefaultState`; for an app typed `new Koa<MyState>()`,
 * write `freshTokens<MyState>({ ... })` to check the resolver against it.
 *
 * Nothing runs per request until a handler asks for a token, except with
 * `forward`. Failures are thrown with `status` 401 or 503 and `expose` true.
 *
 * @example
 * app.use(freshTokens({ cache, key: (ctx) => ctx.state.user?.id }));
 * router.get('/me', async (ctx) => { ctx.body = await (await ctx.state.tokens.fetch(apiUrl)).json(); });
 */
export function freshTokens<StateT = DefaultState, ContextT = DefaultContext>(
  options: FreshTokensOptions<ParameterizedContext<StateT, ContextT>>,
): (ctx: ParameterizedContext<StateT, ContextT>, next: Next) => Promise<void> {
  const { cache, key, forward } = validateFreshTokensOptions(options);
  return async function freshTokensMiddleware(ctx, next) {
    const tokens = new RequestTokens(cache, () => key(ctx));
    (ctx.state as TokensState).tokens = tokens;
    if (forward !== undefined) {
      try {
        ctx.req.headers.authorization = await tokens.authorizationHeader();
      } catch (error) {
        throw tokensUnavailableFrom(error);
      }
    }
    await next();
  };
}
