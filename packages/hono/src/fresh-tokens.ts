import type { Context, Env, MiddlewareHandler } from 'hono';
import {
  RequestTokens,
  tokensUnavailableFrom,
  validateFreshTokensOptions,
  type FreshTokensOptions,
} from '@refreshkit/core/adapter';
import { HonoRequestTokens } from './hono-request-tokens.js';
import { rethrowForHono } from './http-exception-from.js';

/** The context variables the middleware sets: `c.get('tokens')`, `c.var.tokens`. */
export interface TokensVariables {
  /** Fresh tokens for this request's key, from `@refreshkit/hono`. */
  tokens: HonoRequestTokens;
}

/** The Hono `Env` of an app or route that uses the middleware. */
export interface TokensEnv {
  /** See {@link TokensVariables}. */
  Variables: TokensVariables;
}

declare module 'hono' {
  // As Hono's own middleware (requestId, jwt) do: `c.get('tokens')` is typed
  // in an app that did not name TokensEnv in `new Hono<...>()`.
  interface ContextVariableMap {
    /** Fresh tokens for this request's key, from `@refreshkit/hono`. */
    tokens: HonoRequestTokens;
  }
}

/**
 * Hono middleware that sets `tokens` (`getAccessToken()`, `fetch(input,
 * init)`, `authorizationHeader()`) on each request's context, for the key
 * `key(c)` names: read it with `c.get('tokens')` or `c.var.tokens`. Core
 * imports no `node:` module, so it runs on Node (`@hono/node-server`) and in
 * any fetch runtime (Bun, Deno, Workers).
 *
 * Nothing runs per request until a handler asks for a token, except with
 * `forward`, where the request is given the bearer before `next()` for
 * `hono/proxy` to copy. Token failures reject with Hono's `HTTPException`
 * ({@link TokensHttpException}): 401, or 503 with `Retry-After`, answered by
 * Hono's default error handler.
 *
 * @example
 * app.use(freshTokens({ cache, key: (c) => c.get('userId') }));
 * app.get('/me', async (c) => c.json(await (await c.var.tokens.fetch(apiUrl)).json()));
 */
export function freshTokens<E extends Env = Env>(
  options: FreshTokensOptions<Context<E>>,
): MiddlewareHandler<E & TokensEnv> {
  const { cache, key, forward } = validateFreshTokensOptions(options);
  return async function freshTokensMiddleware(c, next) {
    const tokens = new RequestTokens(cache, () => key(c as Context<E>));
    c.set('tokens', new HonoRequestTokens(tokens));
    if (forward !== undefined) {
      let header: string;
      try {
        header = await tokens.authorizationHeader();
      } catch (error) {
        rethrowForHono(tokensUnavailableFrom(error));
      }
      // A new Request rather than setting the header: in fetch runtimes an
      // incoming request's headers are immutable.
      const headers = new Headers(c.req.raw.headers);
      headers.set('authorization', header);
      c.req.raw = new Request(c.req.raw, { headers });
    }
    await next();
  };
}
