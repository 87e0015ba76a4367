import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  RequestTokens,
  tokensUnavailableFrom,
  validateFreshTokensOptions,
  type FreshTokensOptions,
} from '@refreshkit/core/adapter';

declare global {
  // Express users get `req.tokens` typed without importing anything else.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Fresh tokens for this request's key, from `@refreshkit/express`. */
      tokens: RequestTokens;
    }
  }
}

/**
 * Express middleware that gives each request `req.tokens` with
 * `getAccessToken()`, `fetch(input, init)` and `authorizationHeader()` for
 * the key `key(req)` names. Typed against plain `node:http`, so it needs no
 * Express type package, and works with Express 4 and 5.
 *
 * Nothing runs per request until a handler asks for a token, except with
 * `forward`, where the bearer must be on the request before a proxy copies
 * its headers. Failures reach `next(err)` with `status` 401 or 503.
 *
 * @example
 * app.use(freshTokens({ cache, key: (req) => req.user?.id }));
 * app.get('/me', async (req, res) => res.json(await (await req.tokens.fetch(apiUrl)).json()));
 */
export function freshTokens<Req extends IncomingMessage = IncomingMessage>(
  options: FreshTokensOptions<Req>,
): (req: Req, res: ServerResponse, next: (error?: unknown) => void) => void {
  const { cache, key, forward } = validateFreshTokensOptions(options);
  return function freshTokensMiddleware(req, _res, next) {
    const tokens = new RequestTokens(cache, () => key(req));
    (req as Req & { tokens: RequestTokens }).tokens = tokens;
    if (forward === undefined) return next();
    tokens.authorizationHeader().then(
      (header) => {
        req.headers.authorization = header;
        next();
      },
      (error: unknown) => next(tokensUnavailableFrom(error)),
    );
  };
}
